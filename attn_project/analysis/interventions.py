"""Does the trained classifier depend on its attention? Replace the [MASK]'s attention row at test
time and read the accuracy (``interventions`` in the report).

With one attention layer the classifier reads Σ_j α_ij v_j at the [MASK] i, so swapping the row
α_i for another is exact and cheap: one pass over the test split per rule, in the one-pass
mask-map path (``forward_all_masks(replace_weights=…)``). The rules (every head at once; the
fixed ones are ``attn_project.model.controls``' rules, as the trained controls use them):

- ``learned``: the model's own row — a built-in check, its accuracy is ``test.acc``;
- ``uniform``: equal weight on the sentence's words (the [MASK]'s own position included);
- ``self``: all weight on the [MASK]'s own position (it carries only its position);
- ``best_offset``: all weight on the word at the offset j − i that is most often a gold link on
  the **dev** split; where that word is off the sentence, on the [MASK] itself;
- ``gold_head``: all weight on the gold head; the root, which has none, on itself;
- ``gold_neighbourhood``: equal weight on the gold head and dependents (the root: its dependents);
- ``untrained``: the untrained model's rows (its weights at fit start), with the trained values
  and classifier (left out where the run kept no untrained weights: eval of an older checkpoint);
- with 2–16 heads, ``uniform_head<h>``: head h alone made uniform (which head carries the task;
  one pass per head, so more heads leave these out).

A deep model (``model.num_layers`` ≥ 2) has no one row to swap: every position of every layer
attends. Its interventions (``layer_interventions``) make **one layer's rows uniform in turn**
(``uniform_layer<l>``: every head, every query of that layer, in every masked copy — W_Q zeroed
and its relative bias off, so every score is 0), the other layers as trained. The residual still
carries each position's own vector past the uniform layer, so this asks what the layer's
*attention pattern* adds, not what the layer adds.

Read these as "does the *trained* classifier depend on its attention?", not "would syntax help
the task?": a classifier trained on its own attention may do worse with a one-hot row it never
saw. ``delta`` is each rule's accuracy minus ``learned``'s, with a paired bootstrap interval
over test sentences (``delta_ci95``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import Tensor

from attn_project.analysis.mask_maps import Rule, batch_rule_inputs, evaluating, mask_map_batches
from attn_project.analysis.report_schema import Intervention
from attn_project.analysis.significance import Bootstrap, classification
from attn_project.data.batches import SplitTensors
from attn_project.data.labels import IGNORE
from attn_project.model.controls import rule_rows

if TYPE_CHECKING:
    from attn_project.model import MaskedTokenClassifier
    from attn_project.model.blocks import TransformerBlock

MAX_HEADS_ONE_BY_ONE = 16  # one pass over the test split per head: beyond this, per-head rows are left out


def fixed(rule: str, offset: int | None = None) -> Rule:
    """Every head's rows replaced by ``controls`` rule ``rule`` (the same rows a trained control uses)."""
    def rows(weights: Tensor, batch: dict) -> Tensor:
        return rule_rows(rule, batch["lengths"], weights.size(-1), weights.size(1), offset,
                         batch.get("heads")).to(weights)
    return rows


def untrained_rows(untrained: MaskedTokenClassifier) -> Rule:
    """The untrained model's rows (its weights as they were at fit start) for the same sentences."""
    def rows(weights: Tensor, batch: dict) -> Tensor:
        with evaluating(untrained):
            _, before = untrained.forward_all_masks(batch["ids"].to(weights.device), None,
                                                    **batch_rule_inputs(batch, weights.device))
        return before.to(weights)
    return rows


def one_head(rule: Rule, head: int) -> Rule:
    """``rule`` applied to head ``head`` only; the other heads keep their learned rows."""
    def replaced(weights: Tensor, batch: dict) -> Tensor:
        out = weights.clone()
        out[:, head] = rule(weights, batch)[:, head]
        return out
    return replaced


@contextmanager
def uniform_layer(block: TransformerBlock) -> Iterator[None]:
    """One deep layer's rows uniform over the sentence while inside: its W_Q zeroed (every Q·K
    score 0) and its relative bias off; both restored on the way out."""
    saved = [parameter.detach().clone() for parameter in block.attention.w_q.parameters()]
    bias, block.relative_bias = block.relative_bias, None
    try:
        with torch.no_grad():
            for parameter in block.attention.w_q.parameters():
                parameter.zero_()
        yield
    finally:
        with torch.no_grad():
            for parameter, value in zip(block.attention.w_q.parameters(), saved, strict=True):
                parameter.copy_(value)
        block.relative_bias = bias


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


def rules(num_heads: int, best_offset: int, untrained: MaskedTokenClassifier | None = None
          ) -> dict[str, Rule | None]:
    out: dict[str, Rule | None] = {"learned": None, "uniform": fixed("uniform"),
                                   "best_offset": fixed("offset", best_offset)}
    out |= {name: fixed(name) for name in ("gold_head", "gold_neighbourhood", "self")}
    if untrained is not None:
        out["untrained"] = untrained_rows(untrained)
    if 1 < num_heads <= MAX_HEADS_ONE_BY_ONE:
        out |= {f"uniform_head{h}": one_head(fixed("uniform"), h) for h in range(num_heads)}
    return out


Predictions = tuple[np.ndarray, np.ndarray, np.ndarray]  # (sentence, predicted class, label) per target


def scored(runs: Mapping[str, Callable[[], Predictions]], class_names: list[str], resamples: int, seed: int,
           best_offset: int | None = None) -> dict[str, Intervention]:
    """{name: acc, balanced_acc, macro_f1 and delta against the first run (``learned``)}, each
    run's predictions computed as it comes; intervals from one bootstrap over test sentences."""
    out: dict[str, Intervention] = {}
    learned_hits = boot = None
    for name, predict in runs.items():
        sentence, predicted, label = predict()
        boot = boot or Bootstrap(sentence, resamples, seed)
        scores = classification(predicted, label, boot, class_names)
        hits = (predicted == label).astype(float)
        learned_hits = hits if learned_hits is None else learned_hits
        out[name] = Intervention(scores.acc, scores.balanced_acc, scores.macro_f1,
                                 delta=boot.estimate(hits - learned_hits),
                                 offset=f"{best_offset:+d}" if name == "best_offset" else None)
    return out


def interventions(model: MaskedTokenClassifier, test: SplitTensors, best_offset: int,
                  class_names: list[str], resamples: int = 1000, seed: int = 0,
                  untrained: MaskedTokenClassifier | None = None) -> dict[str, Intervention]:
    """{rule: acc, balanced_acc, macro_f1 (with intervals), delta against learned};
    ``untrained``: the model as it was at fit start (the ``untrained`` rule; left out without it)."""
    runs = {name: partial(predictions, model, test, rule)
            for name, rule in rules(model.num_heads, best_offset, untrained).items()}
    return scored(runs, class_names, resamples, seed, best_offset)


def layer_interventions(model: MaskedTokenClassifier, test: SplitTensors, class_names: list[str],
                        resamples: int = 1000, seed: int = 0) -> dict[str, Intervention]:
    """A deep model's ``learned`` and ``uniform_layer<l>`` for each layer l (one exact pass each)."""
    def with_uniform(block: TransformerBlock) -> Predictions:
        with uniform_layer(block):
            return predictions(model, test, None)

    runs: dict[str, Callable[[], Predictions]] = {"learned": partial(predictions, model, test, None)}
    runs |= {f"uniform_layer{layer}": partial(with_uniform, block)
             for layer, block in enumerate(cast("list[TransformerBlock]", list(model.layers)))}
    return scored(runs, class_names, resamples, seed)
