"""Does the trained classifier depend on its attention? Replace the [MASK]'s attention row at test
time and read the accuracy (``interventions`` in the report).

With one attention layer the classifier reads Σ_j α_ij v_j at the [MASK] i, so swapping the row
α_i for another is exact and cheap: one pass over the test split per rule, in the one-pass
mask-map path (``forward_all_masks(replace_weights=…)``). The rules (every head at once):

- ``learned``: the model's own row — a built-in check, its accuracy is ``test.acc``;
- ``uniform``: equal weight on the sentence's words (the [MASK]'s own position included);
- ``self``: all weight on the [MASK]'s own position (it carries only its position);
- ``best_offset``: all weight on the word at the offset j − i that is most often a gold link on
  the **dev** split; where that word is off the sentence, on the [MASK] itself;
- ``gold_head``: all weight on the gold head; the root, which has none, on itself;
- ``gold_neighbourhood``: equal weight on the gold head and dependents (the root: its dependents);
- with 2–16 heads, ``uniform_head<h>``: head h alone made uniform (which head carries the task;
  one pass per head, so more heads leave these out).

Read these as "does the *trained* classifier depend on its attention?", not "would syntax help
the task?": a classifier trained on its own attention may do worse with a one-hot row it never
saw. ``delta`` is each rule's accuracy minus ``learned``'s, with a paired bootstrap interval
over test sentences (``delta_ci95``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from attn_project.analysis.mask_maps import Rule, mask_map_batches
from attn_project.analysis.significance import Bootstrap, classification
from attn_project.data.batches import SplitTensors
from attn_project.data.labels import IGNORE

if TYPE_CHECKING:
    from attn_project.model import MaskedTokenClassifier

MAX_HEADS_ONE_BY_ONE = 16  # one pass over the test split per head: beyond this, per-head rows are left out


def real_words(batch: dict) -> Tensor:
    """[B, 1, 1, T]: True where a key is a word of the sentence (not padding)."""
    t = batch["ids"].size(1)
    return (torch.arange(t)[None, :] < batch["lengths"][:, None])[:, None, None, :]


def one_hot_rows(weights: Tensor, columns: Tensor) -> Tensor:
    """Rows of zeros with a one at ``columns`` [B, T] (the same for every head): [B, H, T, T]."""
    out = torch.zeros_like(weights)
    return out.scatter_(-1, columns[:, None, :, None].expand(-1, weights.size(1), -1, 1), 1.0)


def uniform(weights: Tensor, batch: dict) -> Tensor:
    words = real_words(batch).to(weights.dtype).expand_as(weights)  # [B, H, T, T]
    return words / words.sum(-1, keepdim=True)


def own_positions(weights: Tensor) -> Tensor:
    """[B, T]: each row's own position i (where the [MASK] is)."""
    return torch.arange(weights.size(-1)).expand(weights.size(0), -1)


def self_rows(weights: Tensor, batch: dict) -> Tensor:
    return one_hot_rows(weights, own_positions(weights))


def at_offset(offset: int) -> Rule:
    def rule(weights: Tensor, batch: dict) -> Tensor:
        positions = own_positions(weights)
        target = positions + offset
        inside = (target >= 0) & (target < batch["lengths"][:, None])
        return one_hot_rows(weights, torch.where(inside, target, positions))
    return rule


def gold_head(weights: Tensor, batch: dict) -> Tensor:
    heads = batch["heads"]
    return one_hot_rows(weights, torch.where(heads >= 0, heads, own_positions(weights)))


def gold_neighbourhood(weights: Tensor, batch: dict) -> Tensor:
    heads, t = batch["heads"], weights.size(-1)
    j = torch.arange(t)
    links = (heads[:, :, None] == j) | (heads[:, None, :] == j[None, :, None])  # [B, T, T]: head or dependent
    links = links & real_words(batch)[:, 0]
    lonely = ~links.any(-1, keepdim=True)  # a one-word sentence: itself
    links = links | (lonely & torch.eye(t, dtype=torch.bool))
    rows = links.to(weights.dtype)[:, None].expand_as(weights)
    return rows / rows.sum(-1, keepdim=True)


def one_head(rule: Rule, head: int) -> Rule:
    """``rule`` applied to head ``head`` only; the other heads keep their learned rows."""
    def replaced(weights: Tensor, batch: dict) -> Tensor:
        out = weights.clone()
        out[:, head] = rule(weights, batch)[:, head]
        return out
    return replaced


def predictions(model: MaskedTokenClassifier, split: SplitTensors, rule: Rule | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sentence, predicted class, label) of every target under ``rule``, from the report's own
    mask-map batches, so that ``learned`` reproduces ``test.acc`` exactly."""
    sentences, predicted, labels = [], [], []
    for batch in mask_map_batches(model, split, rule=rule):
        target = batch["labels"] != IGNORE  # [B, T]
        sentences.append(batch["index"][:, None].expand_as(target)[target].numpy())
        predicted.append(batch["logits"].argmax(-1)[target].numpy())
        labels.append(batch["labels"][target].numpy())
    return np.concatenate(sentences), np.concatenate(predicted), np.concatenate(labels)


def rules(num_heads: int, best_offset: int) -> dict[str, Rule | None]:
    out: dict[str, Rule | None] = {"learned": None, "uniform": uniform, "best_offset": at_offset(best_offset),
                                   "gold_head": gold_head, "gold_neighbourhood": gold_neighbourhood,
                                   "self": self_rows}
    if 1 < num_heads <= MAX_HEADS_ONE_BY_ONE:
        out |= {f"uniform_head{h}": one_head(uniform, h) for h in range(num_heads)}
    return out


def interventions(model: MaskedTokenClassifier, test: SplitTensors, best_offset: int,
                  class_names: list[str], resamples: int = 1000, seed: int = 0) -> dict:
    """{rule: acc, balanced_acc, macro_f1 (with intervals), delta and delta_ci95 against learned}."""
    out: dict[str, dict] = {}
    learned_hits = boot = None
    for name, rule in rules(model.num_heads, best_offset).items():
        sentence, predicted, label = predictions(model, test, rule)
        boot = boot or Bootstrap(sentence, resamples, seed)
        scores = classification(predicted, label, boot, class_names)
        hits = (predicted == label).astype(float)
        learned_hits = hits if learned_hits is None else learned_hits
        delta, delta_ci = boot.mean(hits - learned_hits)
        out[name] = {k: scores[k] for k in ("acc", "acc_ci95", "balanced_acc", "balanced_acc_ci95",
                                            "macro_f1", "macro_f1_ci95")}
        out[name] |= {"delta": delta, "delta_ci95": delta_ci}
    out["best_offset"]["offset"] = f"{best_offset:+d}"
    return out
