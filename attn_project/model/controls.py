"""Attention fixed by a rule: the scores of a trained control or oracle, and the rows an
intervention swaps in at test time — one definition for both.

A rule gives score biases ``[B|1, 1, T, T]``: 0 on the keys it attends to, ``ELSEWHERE`` on the
others, and ``NOT_THERE`` on the query's own key unless the rule picks it — so a row with nothing
to attend to (an offset off the sentence or into padding, the root's head, a one-word sentence's
neighbourhood) puts its weight on the [MASK] itself. With Q·K silenced (``model.scores`` other
than ``content``) the softmax of these scores is the rule's rows: equal weight on the chosen keys.

- ``uniform``: every word of the sentence (the [MASK]'s own position included);
- ``offset``: the word at the fixed offset j − i;
- ``self``: the [MASK]'s own position (it carries only its position);
- ``gold_head``: the gold head — an oracle: it reads the gold tree at test time too;
- ``gold_neighbourhood``: the gold head and dependents, equally (an oracle too).

A pretrained head's rows (``model.scores=pretrained``) are not a rule but data made outside the
model; ``fixed_row_scores`` turns them into scores the same way (log-weights: their softmax is the row).
"""

from __future__ import annotations

import torch
from torch import Tensor

from attn_project.errors import ConfigError
from attn_project.model.attention import masked_softmax

RULES = ("uniform", "offset", "self", "gold_head", "gold_neighbourhood")
GOLD = ("gold_head", "gold_neighbourhood")  # need the gold tree, in training and at test time
NOT_THERE = -1e4  # the query's own score where the rule did not pick it: its weight when nothing else is
ELSEWHERE = -2e4  # every other key's score (finite: a padding row stays a number)
SMALLEST_WEIGHT = 1e-8  # a fixed row's weights are floored here before the log (a zero stays finite)


def picked_scores(picked: Tensor) -> Tensor:
    """picked [B|1, T, T] (True: the rule attends there) → scores [B|1, 1, T, T]; the query's own
    key is the fallback (``NOT_THERE``) of a row that picks nothing."""
    eye = torch.eye(picked.size(-1), dtype=torch.bool, device=picked.device)
    scores = torch.full(picked.shape, ELSEWHERE, device=picked.device).masked_fill(eye, NOT_THERE)
    return scores.masked_fill(picked, 0.0).unsqueeze(1)


def offset_keys(length: int, offset: int, device: torch.device | None = None) -> Tensor:
    """[1, T, T]: key i + offset for each query i (none where it is off the sentence)."""
    pos = torch.arange(length, device=device)
    return (pos[None, :] - pos[:, None] == offset).unsqueeze(0)


def gold_links(heads: Tensor) -> tuple[Tensor, Tensor]:
    """heads [B, T] (root and padding < 0) → (head key [B, T, T], head-or-dependent keys [B, T, T])."""
    j = torch.arange(heads.size(1), device=heads.device)
    to_head = heads[:, :, None] == j  # [B, T, T]: key j is the head of i
    return to_head, to_head | (heads[:, None, :] == j[None, :, None])  # or i is the head of key j


def rule_scores(rule: str, length: int, offset: int | None = None, heads: Tensor | None = None,
                device: torch.device | None = None) -> Tensor:
    """The score biases [B|1, 1, T, T] of ``rule`` for sentences padded to ``length``."""
    if rule in GOLD and heads is None:
        raise ConfigError(f"model.scores={rule} reads the gold tree, and this input has none (raw text, "
                          "or batches without heads): it is an oracle for treebank test splits only")
    if rule == "uniform":
        return torch.zeros(1, 1, length, length, device=device)
    if rule == "self":
        return picked_scores(torch.eye(length, dtype=torch.bool, device=device).unsqueeze(0))
    if rule == "offset":
        if offset is None:
            raise ConfigError("model.fixed_offset: the offset rule needs an offset j - i")
        return picked_scores(offset_keys(length, offset, device))
    if rule in GOLD:
        assert heads is not None  # refused above
        to_head, links = gold_links(heads[:, :length])
        return picked_scores(to_head if rule == "gold_head" else links)
    raise ConfigError(f"attention rule {rule!r}: choose one of {RULES}")


def fixed_row_scores(rows: Tensor | None) -> Tensor:
    """rows [B, T, T] (weights ≥ 0 over each sentence's words) → scores [B, 1, T, T] whose softmax over
    the words is each row renormalised: what the specials of a pretrained model took is spread back."""
    if rows is None:
        raise ConfigError("model.scores=pretrained reads a pretrained head's rows of each masked sentence, "
                          "and this input has none (raw text, or batches without them): rows are computed "
                          "for a treebank's splits (attn_project/pretrained/masked_rows.py)")
    return rows.clamp_min(SMALLEST_WEIGHT).log().unsqueeze(1)


def rule_rows(rule: str, lengths: Tensor, width: int, num_heads: int, offset: int | None = None,
              heads: Tensor | None = None) -> Tensor:
    """The rule's attention rows [B, H, T, T] over sentences of ``lengths`` padded to ``width``."""
    words = (torch.arange(width) < lengths[:, None])[:, None, None, :]  # [B, 1, 1, T]
    scores = rule_scores(rule, width, offset, heads).expand(len(lengths), num_heads, width, width)
    return masked_softmax(scores, words)
