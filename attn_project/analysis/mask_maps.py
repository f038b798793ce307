"""Running a classifier over sentences to read its attention: mask maps and masked inputs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from attn_project.analysis.rows import RowScores, collect, collect_maps
from attn_project.data.batches import SentenceBatches, SplitTensors

if TYPE_CHECKING:
    from attn_project.model import MaskedTokenClassifier


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """eval() and no_grad() inside, the previous training mode restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield model
    finally:
        model.train(was_training)


Rule = Callable[[Tensor, dict], Tensor]  # (weights [B, H, T, T], batch) → replacement weights


def bound(rule: Rule, batch: dict) -> Callable[[Tensor], Tensor]:
    """``rule`` for this batch: weights → the weights it replaces them with."""
    return lambda weights: rule(weights, batch)


def effective_rows(weights: Tensor, norms: Tensor) -> Tensor:
    """Norm-based effective attention (Kobayashi et al. 2020): weight × ‖what the key brings‖,
    renormalised per row; [B, H, T, T] (a row of zeros stays zeros)."""
    scaled = weights * norms
    return scaled / scaled.sum(-1, keepdim=True).clamp_min(torch.finfo(scaled.dtype).tiny)


def contribution_rows(contributions: Tensor) -> Tensor:
    """Exact contributions [B, H, T, T] (``MaskedTokenClassifier.key_contributions``) → each key's
    share of the row's total |contribution|, a distribution scored like the weights."""
    size = contributions.abs()
    return size / size.sum(-1, keepdim=True).clamp_min(torch.finfo(size.dtype).tiny)


def mask_map_batches(classifier: MaskedTokenClassifier, split_tensors: SplitTensors,
                     indices: list[int] | None = None, batch_size: int = 256,
                     rule: Rule | None = None, effective: bool = False) -> Iterator[dict[str, Tensor]]:
    """Mask maps of whole sentences, batch by batch, with the gold syntax needed to score them;
    with ``rule``, the classifier reads the rows the rule gives instead (``interventions``); with
    ``effective``, each batch also holds the effective attention (``effective_rows``) and, for a
    model linear after attention, the exact contributions (``contribution_rows``)."""
    dataset = SentenceBatches(split_tensors)
    indices = list(range(len(split_tensors))) if indices is None else list(indices)
    order = sorted(indices, key=lambda i: int(split_tensors.lengths[i]))  # little padding
    device = next(classifier.parameters()).device
    with evaluating(classifier):
        for start in range(0, len(order), batch_size):
            batch = dataset[order[start: start + batch_size]]  # its gold heads: for the gold rules
            replace = None if rule is None else bound(rule, batch)
            ids = batch["ids"].to(device)
            logits, weights = classifier.forward_all_masks(ids, replace, **batch_rule_inputs(batch, device))
            out = scoring_batch(weights, batch, split_tensors, logits)
            if effective:
                out["effective"] = effective_rows(weights, classifier.contribution_norms(ids)).float().cpu()
                if classifier.linear_after_attention:
                    out["contributions"] = contribution_rows(
                        classifier.key_contributions(ids, weights, logits)).float().cpu()
            yield out


def scoring_batch(weights: Tensor, batch: dict[str, Tensor], split_tensors: SplitTensors,
                  logits: Tensor | None = None) -> dict[str, Tensor]:
    """What ``rows.collect`` scores, on the CPU: the mask maps [B, H, T, T] of the sentences
    ``batch["index"]`` of a split with their lengths, labels and gold syntax (heads, relation ids
    and PUNCT flags [B, T]), and the logits where there are any — for the report's passes and the
    validation batches the attention metrics reuse alike."""
    index, width = batch["index"].cpu(), weights.size(-1)
    out = {"weights": weights.float().cpu(), "lengths": batch["lengths"].cpu(),
           "labels": batch["labels"].cpu(), "index": index, "heads": split_tensors.heads[index, :width],
           "rels": split_tensors.rels[index, :width], "punct": split_tensors.punct[index, :width]}
    if logits is not None:
        out["logits"] = logits.float().cpu()
    return out


def analyse_split(classifier: MaskedTokenClassifier, split_tensors: SplitTensors,
                  indices: list[int] | None = None,
                  punct_edges: bool = False) -> RowScores:
    """Per-row scores of the mask maps of ``indices`` (default: the whole split)."""
    return collect(mask_map_batches(classifier, split_tensors, indices), punct_edges)


def analyse_maps(classifier: MaskedTokenClassifier, split_tensors: SplitTensors, punct_edges: bool = False,
                 weights: bool = True) -> dict[str, RowScores]:
    """Per-row scores of the maps of one pass over the split, by name: ``weights`` (unless not
    asked for), ``effective`` where it is defined (one layer), and ``contributions`` for a model
    linear after attention."""
    effective = classifier.has_effective_attention
    maps = (("weights",) if weights else ()) + (("effective",) if effective else ())
    maps += ("contributions",) if classifier.linear_after_attention else ()
    scored = collect_maps(mask_map_batches(classifier, split_tensors, effective=effective), maps, punct_edges)
    return dict(zip(maps, scored, strict=True))


def analyse_split_and_effective(classifier: MaskedTokenClassifier, split_tensors: SplitTensors,
                                punct_edges: bool = False) -> tuple[RowScores, RowScores]:
    """Per-row scores of the weights and of the effective attention, from one pass over the split."""
    maps = analyse_maps(classifier, split_tensors, punct_edges)
    return maps["weights"], maps["effective"]


def sentence_ids(split_tensors: SplitTensors, index: int) -> Tensor:
    """The token ids [T] of one sentence of a split, without padding."""
    return split_tensors.ids[index, : int(split_tensors.lengths[index])]


def mask_map(classifier: MaskedTokenClassifier, ids: Tensor,
             inputs: dict[str, Tensor] | None = None) -> Tensor:
    """The mask map of one sentence ids [T]: [H, T, T] (row i = what the [MASK] at i attends to);
    ``inputs``: what a fixed rule reads of it (``rule_inputs``: gold heads, a pretrained head's rows)."""
    device = next(classifier.parameters()).device
    with evaluating(classifier):
        _, weights = classifier.forward_all_masks(ids.to(device)[None], None, **batched(inputs, device))
    return weights[0].float().cpu()


def batched(inputs: dict[str, Tensor] | None, device: torch.device) -> dict[str, Tensor]:
    """One sentence's rule inputs ([T] heads, [T, T] rows) → a batch of one on ``device``."""
    return {name: value.to(device)[None] for name, value in (inputs or {}).items()}


def batch_rule_inputs(batch: dict[str, Tensor], device: torch.device) -> dict[str, Tensor]:
    """What a fixed rule reads of a batch (gold ``heads`` [B, T], pretrained ``rows`` [B, T, T])."""
    return {name: batch[name].to(device) for name in ("heads", "rows") if name in batch}


def rule_inputs(split_tensors: SplitTensors, index: int) -> dict[str, Tensor]:
    """What a fixed rule reads of one sentence of a split, without padding: its gold heads [T] and,
    where the split has them, a pretrained head's rows [T, T]."""
    length = int(split_tensors.lengths[index])
    inputs = {"heads": split_tensors.heads[index, :length]}
    if split_tensors.fixed_rows is not None:
        inputs["rows"] = split_tensors.fixed_rows.block(index)  # [T, T]
    return inputs


def sample_attention(classifier: MaskedTokenClassifier, ids: Tensor, mask_id: int, position: int,
                     inputs: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
    """For one sentence ids [T]: (mask map [H, T, T], attention of the input masked at position)."""
    device = next(classifier.parameters()).device
    masked = ids.to(device).clone()
    masked[position] = mask_id
    with evaluating(classifier):
        _, raw = classifier(masked[None], torch.tensor([position], device=device), **batched(inputs, device))
    return mask_map(classifier, ids, inputs), raw[0].float().cpu()
