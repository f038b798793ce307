"""Corpora (generated or CoNLL-U), tokenizer, tensors and the LightningDataModule."""
