"""The lens's source for a language model trained here (``analysis.lens``), at any checkpoint: the
treebank's words through the run's own tokenizer (word level: one token per word, [UNK] for the
rest), every layer's attention from the encoder's from-scratch path. There are no special tokens, so
a word's row is the model's row itself (a causal model's covers its left context only)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from tokenizers import Tokenizer

from attn_project.analysis.lens import WordRows
from attn_project.data.conllu import Sentence
from attn_project.model.language_model import LanguageModel
from attn_project.pretrained.lens import encode_sentences
from attn_project.pretrained.words import over_words, piece_batch, special_share, word_attention


@dataclass
class TrainedSource:
    """A ``LanguageModel`` and its tokenizer as an ``analysis.lens.AttentionSource``."""

    model: LanguageModel
    tokenizer: Tokenizer
    pad_id: int = 0

    @property
    def layers(self) -> int:
        return self.model.config.num_layers

    def encode(self, sentences: Sequence[Sentence]) -> tuple[list[tuple[int, Any]], int, int]:
        """Sentences longer than the model's positions are skipped (counted), not cut."""
        return encode_sentences(self.tokenizer, sentences, self.model.config.max_len)

    def word_rows(self, encodings: list[Any]) -> WordRows:
        batch = piece_batch(encodings, self.pad_id)
        with torch.no_grad():
            _, weights = self.model(batch.input_ids, need_weights=True)  # [B, L, H, T, T]
        assert weights is not None
        b, layers, heads, t, _ = weights.shape
        tokens = weights.reshape(b, layers * heads, t, t).float()  # [B, L·H, T, T]
        words = word_attention(tokens, batch.word_of_piece, int(batch.num_words.max()))  # [B, L·H, W, W]
        return WordRows(over_words(words), batch.num_words, special_share(words, batch.num_words))
