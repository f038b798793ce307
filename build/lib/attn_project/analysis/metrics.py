"""The primitives of measuring attention (after Clark et al. 2019); ``rows.py`` applies them.

Inputs are batches of mask maps ``weights [B, H, T, T]`` (row i = what the [MASK] at i attends
to), sentence ``lengths [B]``, gold ``heads [B, T]`` (0-based, root = -1, padding = -100),
relation ids ``rels [B, T]`` and ``targets [B, T]`` (True = a content/function token whose row
counts). Conventions:

- entropy of a row over the sentence's T real tokens, divided by log T (0 = one-hot,
  1 = uniform); undefined (NaN, left out of means) for T = 1 and for padding rows;
- the most-attended *other* token is ``argmax`` over j ≠ i; ties go to the leftmost token
  (``torch.argmax`` returns the first maximum);
- "aligned": that token is i's head or one of i's dependents; "dependency mass": the total
  weight on i's head and dependents.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def normalised_entropy(weights: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Entropy / log T per row: weights [..., T, T] (with lengths: [B, H, T, T]) → [..., T]."""
    plogp = torch.where(weights > 0, weights * weights.clamp_min(1e-30).log(), 0.0)
    entropy = -plogp.sum(-1)
    if lengths is None:
        t = weights.size(-1)
        return entropy / math.log(t) if t > 1 else torch.full_like(entropy, float("nan"))
    log_t = lengths.float().log()[:, None, None]  # [B, 1, 1]
    rows = row_mask(lengths, weights.size(-1))[:, None, :]  # [B, 1, T]
    valid = rows & (lengths > 1)[:, None, None]
    return torch.where(valid, entropy / log_t.clamp_min(1e-12), float("nan"))


def row_mask(lengths: Tensor, t: int) -> Tensor:
    """[B, T] True for the real tokens of each sentence."""
    return torch.arange(t, device=lengths.device)[None, :] < lengths[:, None]


def most_attended_other(weights: Tensor, lengths: Tensor) -> Tensor:
    """[B, H, T]: argmax over real j ≠ i of each row (leftmost on ties)."""
    t = weights.size(-1)
    eye = torch.eye(t, dtype=torch.bool, device=weights.device)
    invalid = eye | ~row_mask(lengths, t)[:, None, :]  # [B, T, T]
    return weights.masked_fill(invalid[:, None], -1.0).argmax(-1)
