"""One lens for every model: an attention source turns sentences into word-level rows
``[B, L·H, W, W]`` (each word's row over the sentence's words), and the lens scores them exactly as a
trained run's mask-map rows are scored (``analysis.rows``), batch by batch, so the same report —
best heads and offsets chosen on dev, verdicts on test — reads any model.

Two sources: a Hugging Face folder (``pretrained.lens.PieceSource``: subword pieces pooled into
words, special tokens' share reported apart) and a language model trained here, at any checkpoint
(``analysis.trained_source.TrainedSource``: one token per word, no special tokens).

Heads of all layers are one head axis, ``L<l>H<h>`` (layer-major: head k is layer k // H, head k % H).
A row here is a word looking at its sentence (the word is not masked).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from attn_project.analysis.rows import RowScores, combine, score_batch
from attn_project.data.batches import SplitTensors
from attn_project.data.conllu import Sentence


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


@dataclass
class WordRows:
    """One batch of sentences through a source."""

    weights: Tensor  # [B, L·H, W, W]: each word's row, renormalised over the sentence's words
    num_words: Tensor  # [B]
    special_share: Tensor  # [B, L·H]: the weight a word gave tokens that are not words (0: none)


class AttentionSource(Protocol):
    """What the lens needs of a model: its layers, the sentences it can read, their word rows."""

    @property
    def layers(self) -> int:
        ...

    def encode(self, sentences: Sequence[Sentence]) -> tuple[list[tuple[int, Any]], int, int]:
        """(index, encoding) of every sentence it can read, and the counts too long and unmapped;
        ``len(encoding)`` is its length in the model's tokens."""
        ...

    def word_rows(self, encodings: list[Any]) -> WordRows:
        ...


def batches_by_length(kept: list[tuple[int, Any]], batch_size: int) -> Iterator[list[tuple[int, Any]]]:
    """Length-sorted batches (little padding)."""
    ordered = sorted(kept, key=lambda item: len(item[1]))
    for start in range(0, len(ordered), batch_size):
        yield ordered[start: start + batch_size]


def lens_rows(source: AttentionSource, sentences: Sequence[Sentence], tensors: SplitTensors, *,
              batch_size: int = 64, samples: Sequence[int] = (), punct_edges: bool = False,
              desc: str = "") -> SplitRows:
    """Every target row of a split, every layer × head, scored as ``rows.collect`` scores a run's
    (memory bounded by one batch's attention)."""
    start = time.perf_counter()
    kept, too_long, unmapped = source.encode(sentences)
    scored: list[dict] = []
    special_sum, words_total = torch.zeros(source.layers), 0
    kept_samples: dict[int, Tensor] = {}
    for group in tqdm(list(batches_by_length(kept, batch_size)), desc=desc or "sentences", unit="batch",
                      leave=False):
        batch = source.word_rows([encoding for _, encoding in group])
        words, width = batch.weights, batch.weights.size(-1)
        weights = batch.num_words.float()  # per sentence: its number of words
        special_sum += (batch.special_share.view(len(group), source.layers, -1).mean(-1)
                        * weights[:, None]).sum(0)  # [L]
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
