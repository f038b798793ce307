"""The before/after report of one run: JSON for tools, Markdown for people, PNGs for eyes.

``untrained_snapshot`` is taken at fit start; ``assemble_report`` scores the trained model on
the same rows and builds the numbers (``report_numbers``) and the figures; ``write_report``
writes them with the Markdown (``report_text``).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from matplotlib.figure import Figure

from attn_project.analysis.baselines import datamodule_baselines
from attn_project.analysis.interventions import interventions, layer_interventions
from attn_project.analysis.mask_maps import (
    analyse_maps,
    analyse_split,
    mask_map,
    rule_inputs,
    sentence_ids,
)
from attn_project.analysis.position import best_offset
from attn_project.analysis.report_numbers import build_report, effective_block
from attn_project.analysis.report_schema import AttentionBlock, EffectiveBlock, Report
from attn_project.analysis.report_text import MIN_ROWS_SHOWN, report_markdown
from attn_project.analysis.rows import RowScores, head_names
from attn_project.viz import plots

if TYPE_CHECKING:
    from attn_project.data.datamodule import MaskedTokenDataModule
    from attn_project.model import MaskedTokenClassifier

log = logging.getLogger(__name__)


def entropy_histogram(before: np.ndarray, after: np.ndarray) -> Figure:
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(7, 4)
    bins = np.linspace(0, 1, 41)
    axes[0].hist(before, bins=bins, alpha=0.6, label="before training")
    axes[0].hist(after, bins=bins, alpha=0.6, label="after training")
    axes[0].set_xlabel("normalised entropy of the [MASK]'s attention (0 = one token, 1 = uniform)")
    axes[0].set_ylabel("masked positions")
    axes[0].set_title("How spread out is attention? (test split)")
    axes[0].legend()
    return fig


def relation_bars(block: AttentionBlock, top: int = 14) -> Figure:
    rows = sorted([(rel, r) for rel, r in block.per_relation.items() if r.n >= MIN_ROWS_SHOWN],
                  key=lambda kv: -kv[1].n)[:top]
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(max(7, 0.8 * len(rows) + 2), 4.5)
    ax, x = axes[0], np.arange(len(rows))
    bars = {"before": [r.before or 0 for _, r in rows], "after": [r.after.value or 0 for _, r in rows],
            "best fixed offset": [r.best_offset or 0 for _, r in rows]}
    errors = np.array([r.after.errors() for _, r in rows]).T.reshape(2, -1)  # [2, relations]: below, above
    for k, (label, values) in enumerate(bars.items()):
        ax.bar(x + (k - 1) * 0.27, values, width=0.27, yerr=errors if label == "after" else None, capsize=2,
               label=label)
    for i, (_, r) in enumerate(rows):
        if r.beats_position:
            ax.text(i, min(0.97, (r.after.value or 0) + 0.05), "*", ha="center")
    ax.set_xticks(x, [rel for rel, _ in rows], rotation=45, ha="right")
    ax.set_ylabel("share of [MASK]s whose top other token is the head")
    ax.set_ylim(0, 1)
    ax.set_title("Dependency alignment per relation (the [MASK] is the dependent; * beats position)")
    ax.legend()
    return fig


def write_report(folder: Path, report: Report, figures: dict) -> dict[str, Path]:
    """Write attention_report.json, attention_report.md and the PNGs; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "attention_report.json", "md": folder / "attention_report.md"}
    paths["json"].write_text(json.dumps(report.to_json(), indent=2))
    paths["md"].write_text(report_markdown(report))
    for name, fig in figures.items():
        paths[name] = plots.save(fig, folder / f"{name}.png")
    return paths


# ── assembling the report of one run ─────────────────────────────────────────────────────
SNAPSHOT_TYPES = {"rows": dict, "samples": list, "baselines": dict, "seconds": float}
OPTIONAL_SNAPSHOT = {"untrained_state": dict}  # the model's weights at fit start (the untrained rule)


def untrained_snapshot(model: MaskedTokenClassifier, dm: MaskedTokenDataModule,
                       punct_edges: bool = False) -> dict:
    """What the report compares with, taken at fit start: the test split's rows, the sample
    sentences' mask maps, the task baselines, the untrained weights, and how long it took."""
    start, test = time.perf_counter(), dm.tensors["test"]
    return {
        "rows": analyse_split(model, test, punct_edges=punct_edges).to_state(),
        "samples": [mask_map(model, sentence_ids(test, i), rule_inputs(test, i))
                    for i in dm.sample_indices("test")],
        "baselines": datamodule_baselines(dm),
        "untrained_state": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "seconds": time.perf_counter() - start,
    }


def valid_snapshot(before: object) -> bool:
    """True when ``before`` has the keys and types ``untrained_snapshot`` gives (checkpoint input)."""
    if not isinstance(before, dict):
        return False
    types = SNAPSHOT_TYPES | {k: t for k, t in OPTIONAL_SNAPSHOT.items() if k in before}
    if not (set(before) == set(types)
            and all(isinstance(before[k], t) for k, t in types.items())
            and all(isinstance(p, torch.Tensor) and p.dim() == 3 for p in before["samples"])
            and all(isinstance(k, str) and isinstance(v, torch.Tensor)
                    for k, v in before.get("untrained_state", {}).items())):
        return False
    try:
        RowScores.from_state(before["rows"])
    except (TypeError, KeyError, AttributeError):
        return False
    return True


def untrained_model(model: MaskedTokenClassifier, before: dict) -> MaskedTokenClassifier | None:
    """The model with the weights it had at fit start, or None where the snapshot kept none (or
    they do not fit this model)."""
    state = before.get("untrained_state")
    if not state:
        return None
    from attn_project.model import MaskedTokenClassifier

    untrained = MaskedTokenClassifier(model.config).to(next(model.parameters()).device)
    try:
        untrained.load_state_dict(state)
    except RuntimeError:
        log.warning("the report's untrained weights do not fit this model: the untrained intervention "
                    "is left out")
        return None
    return untrained


def effective_attention(after: dict[str, RowScores], dev: dict[str, RowScores], dm: MaskedTokenDataModule,
                        *, untrained_weights: MaskedTokenClassifier | None, untrained_rows: RowScores,
                        punct_edges: bool, resamples: int, bootstrap_seed: int,
                        rows_train: bool = True) -> dict[str, EffectiveBlock]:
    """The ``effective`` block, and ``contributions`` for a model linear after attention, from the
    trained model's maps (``analyse_maps`` of test, and of dev for the choices): each compared with
    the untrained model's map of the same kind, or its weights where the run kept no untrained
    weights (``before_is``)."""
    before = ({} if untrained_weights is None else
              analyse_maps(untrained_weights, dm.tensors["test"], punct_edges, weights=False))
    return {kind: effective_block(before.get(kind, untrained_rows), after[kind], dev[kind], dm.relations,
                                  resamples, seed=bootstrap_seed,
                                  before_is=kind if kind in before else "weights", rows_train=rows_train)
            for kind in ("effective", "contributions") if kind in after}


def assemble_report(model: MaskedTokenClassifier, dm: MaskedTokenDataModule, before: dict, run: dict,
                    punct_edges: bool = False, resamples: int = 1000,
                    bootstrap_seed: int = 0) -> tuple[Report, dict]:
    """(report, figures) of the trained ``model`` against the ``before`` snapshot; ``run`` gets the
    model's and corpus's settings and the analysis time (both ends, figures included)."""
    start = time.perf_counter()
    test_maps = analyse_maps(model, dm.tensors["test"], punct_edges)
    dev_maps = analyse_maps(model, dm.tensors["dev"], punct_edges)  # where heads and offsets are chosen
    after, dev = test_maps["weights"], dev_maps["weights"]
    untrained = RowScores.from_state(before["rows"])
    config = model.config
    run = {**run, "corpus": dm.settings.corpus, "num_heads": config.num_heads, "d_model": config.d_model,
           "init": config.init, "num_layers": config.num_layers}
    if model.deep:  # the heads of all layers, layer-major, named as the pretrained lens names them
        run["head_names"] = head_names(config.num_layers, config.num_heads)
    run["task"] = dm.task.name
    report = build_report(untrained, after, dev, relations=dm.relations, baselines=before["baselines"],
                          run=run, punct_edges=punct_edges, resamples=resamples, seed=bootstrap_seed,
                          class_names=list(dm.task.classes), rows_train=config.rows_train)
    best_dev_offset = best_offset(dev)
    untrained_weights = untrained_model(model, before)
    if model.deep:  # each layer's rows made uniform in turn
        report.interventions = layer_interventions(model, dm.tensors["test"], list(dm.task.classes),
                                                   resamples, seed=bootstrap_seed)
    else:  # the one layer's [MASK] rows swapped
        report.interventions = interventions(model, dm.tensors["test"], best_dev_offset,
                                             list(dm.task.classes), resamples, seed=bootstrap_seed,
                                             untrained=untrained_weights)
    blocks = effective_attention(test_maps, dev_maps, dm, untrained_weights=untrained_weights,
                                 untrained_rows=untrained, punct_edges=punct_edges, resamples=resamples,
                                 bootstrap_seed=bootstrap_seed, rows_train=config.rows_train)
    report.effective, report.contributions = blocks.get("effective"), blocks.get("contributions")
    figures = {"entropy_histogram": entropy_histogram(np.nanmean(untrained.entropy, 1),
                                                      np.nanmean(after.entropy, 1)),
               "per_relation": relation_bars(report.weights)}
    for k, index in enumerate(dm.sample_indices("test")):
        after_map = mask_map(model, sentence_ids(dm.tensors["test"], index),
                             rule_inputs(dm.tensors["test"], index))  # [H, T, T]
        figures[f"before_after_sample{k}"] = plots.before_after_figure(
            before["samples"][k].mean(0), after_map.mean(0), dm.tokens_of("test", index),
            f"Mask map of test sample {k}: row i = what the [MASK] at i attends to"
            + (" (mean of heads)" if after_map.size(0) > 1 else ""),
            before_title=f"before training (init={config.init})",
            gold_heads=dm.sentences["test"][index].heads)
    report.run["analysis_s"] = round(before["seconds"] + time.perf_counter() - start, 2)
    return report, figures
