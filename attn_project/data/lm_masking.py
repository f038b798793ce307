"""A language model's inputs and labels. Masked: BERT's masking — in each sequence 15 % of its word
positions are chosen (at least one), never a special token or padding; of the chosen, 80 % become
[MASK], 10 % a random word, 10 % stay as they are; the loss scores every chosen position (labels:
the original word there, IGNORE elsewhere). Causal: each position's label is the next word."""

from __future__ import annotations

import torch
from torch import Tensor

from attn_project.data.labels import IGNORE


def choose_positions(words: Tensor, rate: float, generator: torch.Generator) -> Tensor:
    """words [B, T] (True: a word that may be chosen) → chosen [B, T]: round(rate · n) of each row's
    n words (at least one where it has any), uniformly without replacement."""
    noise = torch.rand(words.shape, generator=generator).masked_fill(~words, 2.0)  # [B, T]: non-words last
    order = noise.argsort(dim=1).argsort(dim=1)  # [B, T]: each position's rank in its row
    count = (words.sum(1) * rate).round().clamp_min(1) * words.any(1)  # [B]
    return (order < count[:, None]) & words


def mask_tokens(ids: Tensor, *, mask_id: int, vocab_size: int, special_ids: list[int],
                generator: torch.Generator, rate: float = 0.15, first_word_id: int | None = None,
                replace: tuple[float, float] = (0.8, 0.1)) -> tuple[Tensor, Tensor]:
    """ids [B, T] → (inputs [B, T], labels [B, T]); ``first_word_id``: the smallest id a random
    replacement may take (the specials come first in the vocabulary), default past every special;
    ``replace``: the shares of chosen words masked and replaced by a random word (BERT's 0.8, 0.1;
    the rest left as they are); (1.0, 0.0) masks every chosen word."""
    words = ~torch.isin(ids, torch.tensor(special_ids))  # [B, T]
    chosen = choose_positions(words, rate, generator)
    labels = ids.masked_fill(~chosen, IGNORE)
    kind = torch.rand(ids.shape, generator=generator)  # [B, T]: < 0.8 mask, < 0.9 random, else keep (BERT's)
    low = max(special_ids) + 1 if first_word_id is None else first_word_id
    random_words = torch.randint(low, vocab_size, ids.shape, generator=generator)
    masked, randomised = replace
    inputs = torch.where(chosen & (kind < masked), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (kind >= masked) & (kind < masked + randomised), random_words, inputs)
    return inputs, labels


def next_word_labels(ids: Tensor, pad_id: int) -> Tensor:
    """A causal LM's targets: position t predicts the word at t + 1 (-100 at the end and on padding)."""
    labels = torch.full_like(ids, IGNORE)
    labels[:, :-1] = ids[:, 1:].masked_fill(ids[:, 1:] == pad_id, IGNORE)
    return labels
