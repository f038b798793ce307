"""The lens's source for a Hugging Face folder (``analysis.lens``): subword pieces pooled into words
(``pretrained.words``), every row renormalised over the sentence's words, the special tokens' share
reported apart, per layer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from attn_project.analysis.lens import SplitRows, WordRows, batches_by_length, lens_rows
from attn_project.data.batches import SplitTensors
from attn_project.data.conllu import Sentence
from attn_project.pretrained.words import PieceBatch, over_words, piece_batch, special_share, word_attention


def encode_sentences(tokenizer, sentences: Sequence[Sentence], max_pieces: int
                     ) -> tuple[list[tuple[int, Any]], int, int]:
    """(index, encoding) of every sentence that fits; counts of those too long and unmapped."""
    kept, too_long, unmapped = [], 0, 0
    for index, sentence in enumerate(sentences):
        encoding = tokenizer.encode(sentence.tokens, is_pretokenized=True)
        if len(encoding.ids) > max_pieces:
            too_long += 1
            continue
        words = {w for w in encoding.word_ids if w is not None}
        if words != set(range(len(sentence))):  # a word the tokenizer dropped: rows would not align
            unmapped += 1
            continue
        kept.append((index, encoding))
    return kept, too_long, unmapped


def piece_attention(model, batch: PieceBatch, device: str) -> Tensor:
    """The model's attention of every layer: [B, L·H, P, P] (float32, on the CPU)."""
    with torch.no_grad():
        out = model(input_ids=batch.input_ids.to(device), attention_mask=batch.attention_mask.to(device),
                    output_attentions=True)
    stacked = torch.stack(out.attentions, dim=1)  # [B, L, H, P, P]
    b, layers, heads, p, _ = stacked.shape
    return stacked.reshape(b, layers * heads, p, p).float().cpu()  # [B, L·H, P, P]


def floor_seconds(model, tokenizer, sentences: Sequence[Sentence], *, max_pieces: int, pad_id: int,
                  batch_size: int = 64, device: str = "cpu") -> float:
    """The floor the lens is measured against: the model's own forward passes with attention
    weights over the same length-sorted batches, nothing else."""
    kept, _, _ = encode_sentences(tokenizer, sentences, max_pieces)
    start = time.perf_counter()
    for group in batches_by_length(kept, batch_size):
        piece_attention(model, piece_batch([encoding for _, encoding in group], pad_id), device)
    return time.perf_counter() - start


@dataclass
class PieceSource:
    """A Hugging Face encoder and its tokenizer as an ``analysis.lens.AttentionSource``."""

    model: Any
    tokenizer: Any
    layers: int
    max_pieces: int
    pad_id: int
    device: str = "cpu"

    def encode(self, sentences: Sequence[Sentence]) -> tuple[list[tuple[int, Any]], int, int]:
        return encode_sentences(self.tokenizer, sentences, self.max_pieces)  # len(encoding): its pieces

    def word_rows(self, encodings: list[Any]) -> WordRows:
        batch = piece_batch(encodings, self.pad_id)
        pieces = piece_attention(self.model, batch, self.device)  # [B, L·H, P, P]
        words = word_attention(pieces, batch.word_of_piece, int(batch.num_words.max()))  # [B, L·H, W, W]
        return WordRows(over_words(words), batch.num_words, special_share(words, batch.num_words))


def split_rows(model, tokenizer, sentences: Sequence[Sentence], tensors: SplitTensors, *, layers: int,
               max_pieces: int, pad_id: int, batch_size: int = 64, device: str = "cpu",
               samples: Sequence[int] = (), punct_edges: bool = False, desc: str = "") -> SplitRows:
    """Every target row of a split through the lens, from a Hugging Face encoder."""
    source = PieceSource(model, tokenizer, layers, max_pieces, pad_id, device)
    return lens_rows(source, sentences, tensors, batch_size=batch_size, samples=samples,
                     punct_edges=punct_edges, desc=desc)
