"""The before/after report: JSON for tools, Markdown for people, PNGs for eyes.

``untrained_snapshot`` is taken at fit start; ``assemble_report`` scores the trained model on
the same rows and builds the numbers (``report_numbers``), the text and the figures.
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
from attn_project.analysis.interventions import interventions
from attn_project.analysis.mask_maps import (
    analyse_split,
    analyse_split_and_effective,
    mask_map,
    sentence_heads,
    sentence_ids,
)
from attn_project.analysis.position import best_offset
from attn_project.analysis.report_numbers import build_report, effective_block
from attn_project.analysis.rows import RowScores
from attn_project.report_schema import (
    MEASURES,
    AttentionBlock,
    AttentionSummary,
    EffectiveBlock,
    Intervention,
    Report,
    fmt,
)
from attn_project.viz import plots

if TYPE_CHECKING:
    from attn_project.data.datamodule import MaskedTokenDataModule
    from attn_project.model import MaskedTokenClassifier

MIN_ROWS_SHOWN = 20  # relations with fewer rows are kept in the JSON but left out of the tables
SKEWED = 0.7  # a majority share from which accuracy alone misleads

log = logging.getLogger(__name__)


def intervention_lines(table: dict[str, Intervention]) -> list[str]:
    """The interventions as a Markdown table (empty without them)."""
    if not table:
        return []
    lines = ["", "## Does the classifier depend on its attention? (the [MASK]'s row replaced at test time)",
             "", "| row replaced by | accuracy | balanced accuracy | change in accuracy |",
             "|---|---|---|---|"]
    for name, r in table.items():
        label = f"{name} ({r.offset})" if r.offset else name
        lines.append(f"| {label} | {r.acc.format()} | {r.balanced_acc.format()} | {r.delta.format()} |")
    return lines + ["", "Read as: does the *trained* classifier depend on its attention — not as: would "
                        "syntax help the task (a classifier trained on its own rows may do worse with a "
                        "one-hot row it never saw). Intervals: paired bootstrap over test sentences."]


def report_markdown(report: Report) -> str:
    """The report as Markdown: accuracy, interventions, attention before → after, effective
    attention, per head, per relation."""
    heads = report.weights.after.num_heads
    return "\n".join([*header_lines(report), *accuracy_lines(report),
                      *intervention_lines(report.interventions), *attention_lines(report),
                      *effective_lines(report), *per_head_lines(report.weights.after.per_head, heads),
                      *relation_lines(report.weights, heads)])


def header_lines(report: Report) -> list[str]:
    run, analysis = report.run, report.analysis
    assert analysis is not None, "a report built by this code records its analysis settings"
    return [
        f"# Attention report — {run.get('experiment', '')}",
        "",
        f"Model: {run.get('num_heads')} head(s), d_model={run.get('d_model')}, init=`{run.get('init')}` "
        f"(\"before\" = this initialisation, untrained). Corpus: {run.get('corpus')}; the whole test "
        f"split ({report.weights.after.rows} masked positions). Brackets: 95% bootstrap intervals over test "
        f"sentences ({analysis.bootstrap_resamples} resamples). Punctuation edges "
        f"{'count' if analysis.punct_edges else 'do not count'} as syntax.",
    ]


BASELINE_LABELS = (("majority", "majority"), ("bag_of_neighbours", "bag of neighbours"),
                   ("bigram", "ordered bigram"), ("bag_of_pieces", "bag of neighbours + pieces"),
                   ("bigram_pieces", "ordered bigram + pieces"))


def accuracy_lines(report: Report) -> list[str]:
    """The classifier against the baselines, the task's skew and the recall per class."""
    test, base = report.test, report.baselines
    f1 = test.f1.format() if test.f1 else "–"
    lines = ["", "## Accuracy (test split)", "",
             "| | accuracy | balanced accuracy | macro-F1 | F1 (content) |", "|---|---|---|---|---|",
             f"| classifier | {test.acc.format()} | {test.balanced_acc.format()} | "
             f"{test.macro_f1.format()} | {f1} |"]
    lines += [f"| {label} | {fmt(base[name].get('acc'))} | {fmt(base[name].get('balanced_acc'))} | "
              f"{fmt(base[name].get('macro_f1'))} | – |"
              for name, label in BASELINE_LABELS if name in base]  # the piece ones: data.tokenizer=pieces
    share = test.majority_share.value if test.majority_share else None
    lines += ["", f"Task: {report.run.get('task', 'content_function')}; the most frequent class, "
                  f"{test.majority_class}, is {fmt(share)} of the test targets."]
    if share is not None and share >= SKEWED:
        lines.append(f"**Warning:** one class is {fmt(share)} of the targets: accuracy alone "
                     f"misleads here; read balanced accuracy and macro-F1.")
    if test.per_class:
        per_class = test.per_class
        lines += ["", "| class | " + " | ".join(per_class) + " |", "|---|" + "---|" * len(per_class),
                  "| recall | " + " | ".join(fmt(c["recall"]) for c in per_class.values()) + " |",
                  "| test targets | " + " | ".join(str(c["support"]) for c in per_class.values()) + " |"]
    return lines


def summary_cells(s: AttentionSummary) -> str:
    return " | ".join(getattr(s, name).format() for name in MEASURES)


def attention_lines(report: Report) -> list[str]:
    """Entropy, alignment, mass and self share before and after training, the offsets, the verdict."""
    weights = report.weights
    return [
        "",
        "## Attention of the [MASK] (mask map rows), before vs after training",
        "",
        "| | entropy / log T | dependency alignment | dependency mass | self share |",
        "|---|---|---|---|---|",
        f"| before | {summary_cells(report.before)} |",
        f"| after | {summary_cells(weights.after)} |",
        f"| best fixed offset ({weights.best_offset_name}) | – | {weights.best_offset.format()} | – | – |",
        "",
        "Fixed offsets −3…+3: " + ", ".join(f"{o}: {fmt(weights.offset_baselines[o])}"
                                           for o in ("-3", "-2", "-1", "+1", "+2", "+3")
                                           if o in weights.offset_baselines)
        + f" (searched over {len(weights.offset_baselines)} offsets; all in the JSON).",
        "",
        verdict(report),
        "",
    ]


def per_head_lines(per_head: dict, heads: int) -> list[str]:
    if heads == 1:
        return []
    return ["## Per head (after training)", "", "| head | entropy | alignment | mass | self share |",
            "|---|---|---|---|---|",
            *(f"| {h} | {fmt(per_head['entropy'][h])} | {fmt(per_head['dep_alignment'][h])} | "
              f"{fmt(per_head['dep_mass'][h])} | {fmt(per_head['self_share'][h])} |" for h in range(heads)),
            ""]


def relation_lines(block: AttentionBlock, heads: int) -> list[str]:
    """Both per-relation tables (relations with at least ``MIN_ROWS_SHOWN`` rows)."""
    lines = []
    for table, title in ((block.per_relation, "the [MASK] attends to its head"),
                         (block.per_relation_to_dependent, "the [MASK] attends to a dependent")):
        lines += [f"## Per relation: {title}", "",
                  "| relation | n | before | after | best offset | adjusted p | beats position? |"
                  + (" best head (dev) → test |" if heads > 1 else ""),
                  "|---|---|---|---|---|---|---|" + ("---|" if heads > 1 else "")]
        for rel, r in sorted(table.items(), key=lambda kv: -kv[1].n):
            if r.n < MIN_ROWS_SHOWN:
                continue
            beats = {True: "yes", False: "no", None: "n < 50: untested"}[r.beats_position]
            lines.append(f"| {rel} | {r.n} | {fmt(r.before)} | {r.after.format()} | "
                         f"{fmt(r.best_offset)} ({r.best_offset_name}) | {fmt(r.p_adjusted, 4)} | {beats} |"
                         + (f" {r.best_head} → {fmt(r.best_head_after)} |" if heads > 1 else ""))
        lines.append("")
    return lines


def effective_lines(report: Report) -> list[str]:
    """Weights vs effective attention (norm-based), side by side (empty without the block)."""
    if report.effective is None:
        return []

    def row(name: str, block: AttentionBlock) -> str:
        verdicts = [beats for _, _, beats in block.tested()]
        return (f"| {name} | {block.after.entropy.format()} | {block.after.dep_alignment.format()} | "
                f"{block.alignment_margin.format()} | "
                f"{block.best_offset_name} ({fmt(block.best_offset.value)}) | "
                f"{sum(verdicts)} of {len(verdicts)} |")

    return ["## Weights vs effective attention (‖α v‖, Kobayashi et al. 2020)", "",
            "| trained maps | entropy / log T | dependency alignment | margin over best offset | "
            "best offset | relations beating position |", "|---|---|---|---|---|---|",
            row("weights", report.weights), row("effective", report.effective),
            "", "Effective attention weighs each word by the norm of what it brings to the [MASK] "
                "(several heads: through W_O); both rows score the same test rows. Verdicts per relation "
                "of the effective maps: `effective.per_relation*` in the JSON.", ""]


def verdict(report: Report) -> str:
    """Plain words for what the numbers say, each claim only when its interval or test allows it."""
    before, weights, analysis = report.before, report.weights, report.analysis
    after, best, margin = weights.after, weights.best_offset, weights.alignment_margin
    change = report.entropy_change
    assert analysis is not None
    words = [{-1: "Training made attention sharper", 1: "Training made attention smoother",
              0: "Training did not change attention's entropy clearly"}[change.side_of_zero()]
             + f" (entropy {fmt(before.entropy.value)} → {fmt(after.entropy.value)}, "
             f"change {change.format()}); "
             f"the [MASK]'s weight on itself went {fmt(before.self_share.value)} → "
             f"{fmt(after.self_share.value)}."]
    side = margin.side_of_zero()
    words.append(f"Overall alignment with syntax ({fmt(after.dep_alignment.value)}) "
                 + {1: "beats", -1: "is below", 0: "cannot be told apart from"}[side]
                 + f" the best fixed offset ({weights.best_offset_name}: {fmt(best.value)}; difference "
                 f"{margin.format()})" + (": overall, it tracks position at least as much as syntax."
                                         if side <= 0 else "."))
    tested = weights.tested()
    beats = [f"{rel} ({side})" for rel, side, beats in tested if beats]
    words.append(f"Relations where attention beats both the best fixed offset and the untrained model "
                 f"(McNemar, {analysis.correction}-adjusted p < {analysis.alpha}, "
                 f"{len(tested)} tested with n ≥ {analysis.min_rows_for_verdict}): "
                 + (", ".join(sorted(beats)) if beats else "none") + ".")
    return " ".join(words)


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
        "samples": [mask_map(model, sentence_ids(test, i), sentence_heads(test, i))
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


def effective_attention(after: RowScores, dev: RowScores | None, dm: MaskedTokenDataModule, *,
                        untrained_weights: MaskedTokenClassifier | None, untrained_rows: RowScores,
                        punct_edges: bool, resamples: int, bootstrap_seed: int) -> EffectiveBlock:
    """The ``effective`` block from the trained model's effective rows (test, and dev for several
    heads): compared with the untrained model's effective attention, or its weights where the run
    kept no untrained weights (``effective.before_is``)."""
    before = (untrained_rows if untrained_weights is None else
              analyse_split_and_effective(untrained_weights, dm.tensors["test"], punct_edges)[1])
    return effective_block(before, after, dev, dm.relations, resamples, seed=bootstrap_seed,
                           before_is="weights" if untrained_weights is None else "effective")


def assemble_report(model: MaskedTokenClassifier, dm: MaskedTokenDataModule, before: dict, run: dict,
                    punct_edges: bool = False, resamples: int = 1000,
                    bootstrap_seed: int = 0) -> tuple[Report, dict]:
    """(report, figures) of the trained ``model`` against the ``before`` snapshot; ``run`` gets the
    model's and corpus's settings and the analysis time (both ends, figures included)."""
    start = time.perf_counter()
    after, after_effective = analyse_split_and_effective(model, dm.tensors["test"], punct_edges)
    dev, dev_effective = (analyse_split_and_effective(model, dm.tensors["dev"], punct_edges)
                          if model.num_heads > 1 else (None, None))
    untrained = RowScores.from_state(before["rows"])
    config = model.config
    run = {**run, "corpus": dm.settings.corpus, "num_heads": config.num_heads, "d_model": config.d_model,
           "init": config.init}
    run["task"] = dm.task.name
    report = build_report(untrained, after, dev, relations=dm.relations, baselines=before["baselines"],
                          run=run, punct_edges=punct_edges, resamples=resamples, seed=bootstrap_seed,
                          class_names=list(dm.task.classes))
    dev_rows = dev or analyse_split(model, dm.tensors["dev"], punct_edges=punct_edges)
    best_dev_offset = best_offset(dev_rows)
    untrained_weights = untrained_model(model, before)
    report.interventions = interventions(model, dm.tensors["test"], best_dev_offset, list(dm.task.classes),
                                         resamples, seed=bootstrap_seed, untrained=untrained_weights)
    report.effective = effective_attention(
        after_effective, dev_effective, dm, untrained_weights=untrained_weights, untrained_rows=untrained,
        punct_edges=punct_edges, resamples=resamples, bootstrap_seed=bootstrap_seed)
    figures = {"entropy_histogram": entropy_histogram(np.nanmean(untrained.entropy, 1),
                                                      np.nanmean(after.entropy, 1)),
               "per_relation": relation_bars(report.weights)}
    for k, index in enumerate(dm.sample_indices("test")):
        after_map = mask_map(model, sentence_ids(dm.tensors["test"], index),
                             sentence_heads(dm.tensors["test"], index))  # [H, T, T]
        figures[f"before_after_sample{k}"] = plots.before_after_figure(
            before["samples"][k].mean(0), after_map.mean(0), dm.tokens_of("test", index),
            f"Mask map of test sample {k}: row i = what the [MASK] at i attends to"
            + (" (mean of heads)" if after_map.size(0) > 1 else ""),
            before_title=f"before training (init={config.init})")
    report.run["analysis_s"] = round(before["seconds"] + time.perf_counter() - start, 2)
    return report, figures
