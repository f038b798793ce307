"""Measuring attention against gold syntax and against position (after Clark et al. 2019).

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
from collections import defaultdict

import torch
from torch import Tensor

OFFSETS = (-3, -2, -1, 1, 2, 3)


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


def adjacency(heads: Tensor) -> Tensor:
    """[B, T, T]: True where j is i's head or i is j's head."""
    b, t = heads.shape
    j = torch.arange(t, device=heads.device)
    is_head = heads[:, :, None] == j[None, None, :]  # [B, T, T]: heads[i] == j
    return is_head | is_head.transpose(1, 2)


def most_attended_other(weights: Tensor, lengths: Tensor) -> Tensor:
    """[B, H, T]: argmax over real j ≠ i of each row (leftmost on ties)."""
    t = weights.size(-1)
    eye = torch.eye(t, dtype=torch.bool, device=weights.device)
    invalid = eye | ~row_mask(lengths, t)[:, None, :]  # [B, T, T]
    return weights.masked_fill(invalid[:, None], -1.0).argmax(-1)


def gather_tokens(values: Tensor, index: Tensor) -> Tensor:
    """values [B, T], index [B, H, T] → values[b, index[b, h, i]] as [B, H, T]."""
    b, h, t = index.shape
    return values.gather(1, index.reshape(b, h * t)).reshape(b, h, t)  # [B, H*T] → [B, H, T]


def dependent_relations(heads: Tensor, rels: Tensor, num_relations: int) -> Tensor:
    """[B, T, R]: True where token i has at least one dependent with relation r."""
    has = torch.zeros(*heads.shape, num_relations, dtype=torch.bool)
    b, j = (heads >= 0).nonzero(as_tuple=True)
    has[b, heads[b, j], rels[b, j]] = True
    return has


class AlignmentStats:
    """Accumulates entropy, alignment and dependency mass per head and per relation over batches."""

    def __init__(self, relations: list[str], per_relation: bool = True):
        """``per_relation=False`` keeps the overall numbers only (cheaper, for per-epoch logging)."""
        self.relations = relations if per_relation else []
        self.sums: dict[str, Tensor] = defaultdict(lambda: torch.zeros(()))
        self.counts: dict[str, Tensor] = defaultdict(lambda: torch.zeros(()))
        self.entropies: list[Tensor] = []

    def add(self, key: str, hits: Tensor, where: Tensor) -> None:
        """Add per-head sums of ``hits`` over rows in ``where``: hits [B, H, T], where [B, T]."""
        where_h = where[:, None, :].expand_as(hits)
        self.sums[key] = self.sums[key] + (hits.float() * where_h).sum((0, 2))  # [H]
        self.counts[key] = self.counts[key] + where_h.float().sum((0, 2))  # [H]

    @torch.no_grad()
    def update(self, weights: Tensor, lengths: Tensor, heads: Tensor, rels: Tensor,
               targets: Tensor) -> None:
        """Add a batch of mask maps [B, H, T, T]; only target rows of real tokens count."""
        weights, lengths, heads, rels, targets = (
            x.detach().cpu() for x in (weights, lengths, heads, rels, targets))
        targets = targets & row_mask(lengths, weights.size(-1)) & (lengths > 1)[:, None]
        self.entropies.append(normalised_entropy(weights, lengths).transpose(0, 1)[:, targets])
        mass = (weights * adjacency(heads)[:, None]).sum(-1)  # [B, H, T]
        self.add("dep_mass", mass, targets)
        top = most_attended_other(weights, lengths)  # [B, H, T]
        self.update_top(top, torch.ones_like(top, dtype=torch.bool), heads, rels, targets)

    def update_top(self, top: Tensor, found: Tensor, heads: Tensor, rels: Tensor,
                   targets: Tensor) -> None:
        """Score the attended token ``top [B, H, T]`` of each row (rows with ``found`` False miss)."""
        i = torch.arange(heads.size(1))[None, None, :]
        to_head = found & (top == heads[:, None, :])  # [B, H, T]
        to_dependent = found & (gather_tokens(heads, top) == i)
        self.add("dep_alignment", to_head | to_dependent, targets)
        if not self.relations:
            return
        top_rel = gather_tokens(rels, top)
        has_dependent = dependent_relations(heads, rels, len(self.relations))  # [B, T, R]
        for r, name in enumerate(self.relations):
            self.add(f"to_head/{name}", to_head, targets & (rels == r) & (heads >= 0))
            self.add(f"to_dependent/{name}", to_dependent & (top_rel == r),
                     targets & has_dependent[:, :, r])

    def rate(self, key: str) -> Tensor:
        """Per-head rate [H] (NaN where nothing was counted)."""
        return self.sums[key] / self.counts[key]

    def entropy_per_head(self) -> Tensor:
        values = torch.cat(self.entropies, dim=1) if self.entropies else torch.zeros(1, 0)
        return values.nanmean(-1)  # [H]

    def summary(self) -> dict:
        """Head-averaged overall numbers, a per-head table and per-relation rates."""
        per_head = {
            "entropy": self.entropy_per_head().tolist(),
            "dep_alignment": self.rate("dep_alignment").tolist(),
            "dep_mass": self.rate("dep_mass").tolist(),
        }
        out = {k: float(torch.tensor(v).nanmean()) for k, v in per_head.items()}
        out["per_head"] = per_head
        out["rows"] = int(self.counts["dep_alignment"].max()) if self.counts else 0
        for direction in ("to_head", "to_dependent"):
            out[direction] = {}
            for name in self.relations:
                key = f"{direction}/{name}"
                if key in self.counts and float(self.counts[key].max()) > 0:
                    rates = self.rate(key)
                    out[direction][name] = {"mean": float(rates.mean()), "per_head": rates.tolist(),
                                            "best_head": int(rates.argmax()),
                                            "n": int(self.counts[key].max())}
        return out

    def entropy_values(self) -> Tensor:
        """All per-row entropies (head-averaged rows), for histograms."""
        return torch.cat(self.entropies, dim=1).nanmean(0) if self.entropies else torch.zeros(0)


class OffsetBaselines:
    """Fixed-offset attention (always i-3 … i+3), scored exactly like the model's attention."""

    def __init__(self, relations: list[str], offsets=OFFSETS):
        self.offsets = offsets
        self.stats = {o: AlignmentStats(relations) for o in offsets}

    @torch.no_grad()
    def update(self, lengths: Tensor, heads: Tensor, rels: Tensor, targets: Tensor) -> None:
        lengths, heads, rels, targets = (x.detach().cpu() for x in (lengths, heads, rels, targets))
        t = heads.size(1)
        targets = targets & row_mask(lengths, t) & (lengths > 1)[:, None]
        for o, stats in self.stats.items():
            j = torch.arange(t)[None, :] + o  # [1, T]
            inside = (j >= 0) & (j < lengths[:, None])  # [B, T]: off the sentence = a miss
            top = j.clamp(0, t - 1).expand(len(lengths), t)[:, None, :]  # [B, 1, T]
            stats.update_top(top, inside[:, None, :], heads, rels, targets)

    def summary(self) -> dict:
        return {f"{o:+d}": self.stats[o].summary() for o in self.offsets}
