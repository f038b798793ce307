"""A pretrained encoder's attention through the project's own lens: every layer × head's word-level
rows, renormalised over the sentence's words (the special tokens' share reported apart, per layer),
scored exactly as a trained run's mask-map rows are (``analysis.rows``), the best head per
relation and the best offsets chosen on dev and scored on test, verdicts against the best offset
with a sentence-level test and Benjamini–Hochberg (``analysis.report_numbers``).

Heads of all layers are one head axis, ``L<l>H<h>`` (layer-major: head k is layer k // H, head k % H).
A row here is a word looking at its sentence (the word is not masked): "a row of some model's
attention", of which the [MASK] row of a trained run is one kind.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from attn_project.analysis.rows import RowScores, combine, score_batch
from attn_project.data.batches import SplitTensors
from attn_project.data.conllu import Sentence
from attn_project.pretrained.words import PieceBatch, over_words, piece_batch, special_share, word_attention


@dataclass
class SplitRows:
    """One split through the lens: the scored rows, the weight given to special tokens per layer,
    and the sentences left out (too long for the model, or not mapped to words)."""

    rows: RowScores
    special_share: list[float]  # per layer, over every word of every kept sentence
    kept: list[int]  # sentence indices scored
    skipped_too_long: int = 0
    skipped_unmapped: int = 0
    seconds: float = 0.0
    samples: dict[int, Tensor] = field(default_factory=dict)  # sentence index → word attention [LH, W, W]


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


def batches_by_length(kept: list[tuple[int, Any]], batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """Length-sorted batches (little padding)."""
    ordered = sorted(kept, key=lambda item: len(item[1].ids))
    for start in range(0, len(ordered), batch_size):
        yield ordered[start: start + batch_size]


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


def split_rows(model, tokenizer, sentences: Sequence[Sentence], tensors: SplitTensors, *, layers: int,
               max_pieces: int, pad_id: int, batch_size: int = 64, device: str = "cpu",
               samples: Sequence[int] = (), punct_edges: bool = False, desc: str = "") -> SplitRows:
    """Every target row of a split, every layer × head, scored as ``rows.collect`` scores a run's,
    batch by batch (memory bounded by one batch's attention)."""
    start = time.perf_counter()
    kept, too_long, unmapped = encode_sentences(tokenizer, sentences, max_pieces)
    scored: list[dict] = []
    special_sum, words_total = torch.zeros(layers), 0
    kept_samples: dict[int, Tensor] = {}
    for group in tqdm(list(batches_by_length(kept, batch_size)), desc=desc or "sentences", unit="batch",
                      leave=False):
        batch = piece_batch([encoding for _, encoding in group], pad_id)
        pieces = piece_attention(model, batch, device)  # [B, L·H, P, P]
        width = int(batch.num_words.max())
        words = word_attention(pieces, batch.word_of_piece, width)  # [B, L·H, W, W]
        shares = special_share(words, batch.num_words)  # [B, L·H]
        words = over_words(words)  # rows over the sentence's words alone
        weights = batch.num_words.float()  # per sentence: its number of words
        special_sum += (shares.view(len(group), layers, -1).mean(-1) * weights[:, None]).sum(0)
        words_total += int(weights.sum())
        index = torch.tensor([i for i, _ in group])
        gold = {name: getattr(tensors, name)[index, :width] for name in ("labels", "heads", "rels", "punct")}
        batch_rows = {"weights": words, "lengths": tensors.lengths[index], "index": index, **gold}
        scored.append(score_batch(batch_rows, punct_edges))
        for k, i in enumerate(index.tolist()):
            if i in samples:
                n = int(batch.num_words[k])
                kept_samples[i] = words[k, :, :n, :n].clone()
    shares_per_layer = (special_sum / max(words_total, 1)).tolist()
    return SplitRows(combine(scored), shares_per_layer, sorted(i for i, _ in kept), too_long, unmapped,
                     time.perf_counter() - start, kept_samples)


def layer_head_grid(rows: RowScores, best_offset_hits: np.ndarray, layers: int) -> np.ndarray:
    """[L, H]: each head's alignment minus the best fixed offset's, same rows (Clark et al.'s figure)."""
    per_head = rows.aligned.astype(float).mean(0) - best_offset_hits.astype(float).mean()  # [L·H]
    return per_head.reshape(layers, -1)  # [L, H]
