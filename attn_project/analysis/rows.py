"""Per-row scores of a split's mask maps, kept row by row so that the report can resample
sentences (bootstrap intervals) and pair rows (significance tests).

A row is one target word i of one sentence: what the [MASK] at i attends to. Its gold links are
i's head and i's dependents; with ``punct_edges=False`` (the default) edges to or from a PUNCT
word are not links — attending to a sentence-final "." is then no sign of syntax, for the model
and the fixed-offset baselines alike.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from attn_project.analysis.metrics import most_attended_other, normalised_entropy
from attn_project.data.labels import IGNORE


@dataclass
class RowScores:
    """Numpy arrays over N rows (and H heads, R relations)."""

    sentence: np.ndarray  # [N] sentence index
    relation: np.ndarray  # [N] relation id of the row's word to its head (-1 when it does not count)
    head_offset: np.ndarray  # [N] head - i (0 when there is no counted head)
    entropy: np.ndarray  # [N, H] normalised by log T
    self_share: np.ndarray  # [N, H] weight on the [MASK]'s own position
    mass: np.ndarray  # [N, H] weight on the gold links
    aligned: np.ndarray  # [N, H] the most attended other word is a gold link
    to_head: np.ndarray  # [N, H] … is the head (meaningful where relation >= 0)
    dependent_rel: np.ndarray  # [N, H] relation of the attended word if it is a dependent, else -1
    correct: np.ndarray  # [N] the classifier's prediction was right
    label: np.ndarray  # [N] the task's class (content_function: 1 = content, 0 = function)
    link_row: np.ndarray  # [K] every gold link of every row: its row …
    link_offset: np.ndarray  # [K] … and its offset j - i
    dep_row: np.ndarray  # [D] every counted dependent of every row: its row, …
    dep_offset: np.ndarray  # [D] … its offset j - i …
    dep_rel: np.ndarray  # [D] … and its relation
    # targets in one-word sentences: classified (the test accuracy counts them), but with nothing
    # else to attend to they are not attention rows
    lone_sentence: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [L]
    lone_correct: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))  # [L]
    lone_label: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [L]
    predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [N] the class chosen
    lone_predicted: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [L]
    # weights beside hit rates (empty in rows scored before they were kept): the weight on the gold
    # head, on each counted dependent, and on the word at each offset -OFFSET_REACH..OFFSET_REACH
    head_weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # [N, H]
    dep_weight: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # [D, H]
    offset_weight: np.ndarray = field(  # [N, H, 2R+1]
        default_factory=lambda: np.zeros((0, 0, 0), dtype=np.float16))
    position: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # [N] the row's word

    @property
    def has_weights(self) -> bool:
        """Whether the link weights were kept (rows scored by an older version have none)."""
        return len(self.head_weight) == len(self.sentence) and self.offset_weight.ndim == 3

    def classified(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(sentence, predicted class, label) of every target the classifier saw: the rows and
        the lone ones."""
        return (np.concatenate([self.sentence, self.lone_sentence]),
                np.concatenate([self.predicted, self.lone_predicted]),
                np.concatenate([self.label, self.lone_label]))

    def to_state(self) -> dict:
        """Plain tensors (for checkpoints, which load with weights_only=True)."""
        return {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in vars(self).items()}

    @classmethod
    def from_state(cls, state: dict) -> RowScores:
        return cls(**{k: v.numpy() for k, v in state.items()})


OFFSET_REACH = 16  # offset_weight keeps the weight on the words at offsets -16..16 (0 off the sentence)


def head_names(layers: int, heads: int) -> list[str]:
    """``L<l>H<h>`` for the heads of all layers, layer-major (head k is layer k // H, head k % H):
    a deep trained model's and a pretrained encoder's alike."""
    return [f"L{layer}H{head}" for layer in range(layers) for head in range(heads)]


def score_batch(batch: dict[str, Tensor], punct_edges: bool) -> dict:
    """Row scores of one batch of mask maps (``weights`` [B, H, T, T], gold syntax, logits)."""
    weights, lengths = batch["weights"], batch["lengths"]
    heads, rels, punct = batch["heads"], batch["rels"], batch["punct"]
    b, h, t, _ = weights.shape
    targets = (batch["labels"] != IGNORE) & (lengths > 1)[:, None]  # [B, T]
    lone = (batch["labels"] != IGNORE) & (lengths == 1)[:, None]  # [B, T]: one-word sentences
    counted = torch.ones_like(punct) if punct_edges else ~punct  # [B, T]: words whose edges count
    j = torch.arange(t)
    is_head = (heads[:, :, None] == j) & counted[:, None, :]  # [B, T, T]: j is i's head
    is_dep = (heads[:, None, :] == j[None, :, None]) & counted[:, None, :]  # [B, T, T]: j depends on i
    links = is_head | is_dep
    top = most_attended_other(weights, lengths)  # [B, H, T]
    top_link = links[:, None].expand(b, h, t, t).gather(-1, top[..., None])[..., 0]  # [B, H, T]
    top_head = heads[:, None, :] == top  # [B, H, T]
    top_rel = rels.gather(1, top.reshape(b, h * t)).reshape(b, h, t)  # relation of the attended word
    top_dep = is_dep[:, None].expand(b, h, t, t).gather(-1, top[..., None])[..., 0]
    has_head = (heads >= 0) & counted.gather(1, heads.clamp_min(0))  # [B, T]
    sb, si = targets.nonzero(as_tuple=True)  # the rows
    lb, li = lone.nonzero(as_tuple=True)
    diag = weights.diagonal(dim1=-2, dim2=-1)  # [B, H, T]
    labels = batch["labels"]
    predicted = batch["logits"].argmax(-1) if "logits" in batch else labels  # [B, T] (validation: none)
    rows = weights[sb, :, si]  # [N, H, T]: each row's weights
    dep_n, dep_j = is_dep[sb, si].nonzero(as_tuple=True)  # every counted dependent: its row and key
    return {
        "sentence": batch["index"][sb].numpy(),
        "relation": torch.where(has_head[sb, si], rels[sb, si], -1).numpy(),
        "head_offset": torch.where(has_head[sb, si], heads[sb, si] - si, 0).numpy(),
        "entropy": normalised_entropy(weights, lengths)[sb, :, si].numpy(),
        "self_share": diag[sb, :, si].numpy(),
        "mass": (weights * links[:, None]).sum(-1)[sb, :, si].numpy(),
        "aligned": top_link[sb, :, si].numpy(),
        "to_head": top_head[sb, :, si].numpy(),
        "dependent_rel": torch.where(top_dep, top_rel, -1)[sb, :, si].numpy(),
        "correct": (predicted == labels)[sb, si].numpy(),
        "label": labels[sb, si].numpy(),
        "lone_sentence": batch["index"][lb].numpy(), "lone_correct": (predicted == labels)[lb, li].numpy(),
        "lone_label": labels[lb, li].numpy(),
        "predicted": predicted[sb, si].numpy(), "lone_predicted": predicted[lb, li].numpy(),
        **pairs("link", links[sb, si], si),
        **pairs("dep", is_dep[sb, si], si, rels[sb]),
        "head_weight": (rows * is_head[sb, si][:, None]).sum(-1).numpy(),
        "dep_weight": rows[dep_n, :, dep_j].numpy(),
        "offset_weight": offset_weights(rows, si).numpy(),
        "position": si.numpy(),
    }


def offset_weights(rows: Tensor, position: Tensor, reach: int = OFFSET_REACH) -> Tensor:
    """rows [N, H, T] and each row's position [N] → [N, H, 2·reach + 1] (float16): the weight on the
    word at i + o for o = -reach..reach, 0 where that is off the padded sentence (padding has none)."""
    n, h, t = rows.shape
    key = position[:, None] + torch.arange(-reach, reach + 1)  # [N, 2R+1]
    inside = (key >= 0) & (key < t)
    picked = rows.gather(-1, key.clamp(0, t - 1)[:, None, :].expand(n, h, -1))  # [N, H, 2R+1]
    return (picked * inside[:, None, :]).half()


def pairs(name: str, linked: Tensor, position: Tensor, rels: Tensor | None = None) -> dict:
    """linked [N, T] → flat (row, offset[, relation]) arrays of its True entries."""
    row, j = linked.nonzero(as_tuple=True)
    out = {f"{name}_row": row.numpy(), f"{name}_offset": (j - position[row]).numpy()}
    if rels is not None:
        out[f"{name}_rel"] = rels[row, j].numpy()
    return out


def collect(batches: Iterable[dict[str, Tensor]], punct_edges: bool = False) -> RowScores:
    """RowScores of every target row of the batches (``mask_maps.mask_map_batches``)."""
    return collect_maps(batches, ("weights",), punct_edges)[0]


def collect_maps(batches: Iterable[dict[str, Tensor]], maps: tuple[str, ...],
                 punct_edges: bool = False) -> tuple[RowScores, ...]:
    """RowScores of each of the batches' maps (e.g. ``weights`` and ``effective``), in one pass
    over the batches."""
    parts: list[list[dict]] = [[] for _ in maps]
    for batch in batches:
        for scored, name in zip(parts, maps, strict=True):
            scored.append(score_batch(batch | {"weights": batch[name]}, punct_edges))
    return tuple(combine(scored) for scored in parts)


def combine(parts: list[dict]) -> RowScores:
    """One RowScores from the scores of consecutive batches (row indices shifted to match)."""
    if not parts:
        raise ValueError("no sentences to score")
    first_row = np.cumsum([0] + [len(p["sentence"]) for p in parts[:-1]])  # where each batch's rows start
    for part, start in zip(parts, first_row):
        part["link_row"], part["dep_row"] = part["link_row"] + start, part["dep_row"] + start
    return RowScores(**{key: np.concatenate([p[key] for p in parts]) for key in parts[0]})


def summary(rows: RowScores) -> dict:
    """Head-averaged entropy, alignment, dependency mass and self share over all rows."""
    return {"entropy": float(np.nanmean(rows.entropy)), "dep_alignment": float(rows.aligned.mean()),
            "dep_mass": float(rows.mass.mean()), "self_share": float(rows.self_share.mean()),
            "rows": len(rows.sentence)}
