"""The study's figures: accuracy against the baselines, attention before → after, and per
relation the margin over the best fixed offset — each a mean with its 95% CI over seeds."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attn_project.analysis.report_schema import Estimate
from attn_project.study.aggregate import estimate
from attn_project.study.table import key_label
from attn_project.viz import plots

BASELINES = [("baseline/majority", "majority", "0.6"),
             ("baseline/bag_of_neighbours", "bag of neighbours", "C2"),
             ("baseline/bigram", "ordered bigram", "C3")]
LINE_COLORS = [f"C{i}" for i in range(10) if f"C{i}" not in {color for *_, color in BASELINES}]
TOP_RELATIONS = 10


SHARE = (0.0, 1.0)        # accuracies, entropy / log T, alignment: what a value can be
DIFFERENCE = (-1.0, 1.0)  # a difference of two shares
CLIPPED = "intervals clipped to what the metric can reach"


Limits = tuple[float, float]


def mean_and_error(summary: dict | None, limits: Limits | None = None) -> tuple[float, list[float]]:
    """(mean, [below, above]) for an error bar, the interval clipped to ``limits`` (a t interval
    over few seeds can run past 0 or 1); no bar without an interval."""
    value = estimate(summary)
    mean = value.value
    if mean is None:
        return np.nan, [0.0, 0.0]
    if limits and value.ci95:
        value = Estimate(mean, (max(value.ci95[0], limits[0]), min(value.ci95[1], limits[1])))
    return mean, list(value.errors())


def points(ax: Axes, x: np.ndarray | Sequence[float], summaries: list, limits: Limits = SHARE,
           **kwargs: Any) -> None:
    means, errors = zip(*(mean_and_error(s, limits) for s in summaries))
    style = {"marker": "o", "linestyle": "none", **kwargs}
    ax.errorbar(x, means, yerr=np.array(errors).T, capsize=4, **style)


def legend_beside(ax: Axes, fontsize: int = 8) -> None:
    """The legend right of the axes, never on top of the data."""
    ax.legend(fontsize=fontsize, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def wide_figure(ncols: int, groups: int) -> tuple[Figure, np.ndarray]:
    """A figure whose width grows with the number of groups on its x axis."""
    fig = Figure(figsize=(ncols * max(5.0, 1.6 * groups), 5.0), layout="constrained")
    return fig, np.atleast_1d(fig.subplots(1, ncols))


def wrap(text: str, width: int) -> str:
    """Lines of at most ``width`` characters, broken at spaces or after underscores."""
    return textwrap.fill(text.replace("_", "_ "), width, break_long_words=False).replace("_ ", "_")


def labels_of(groups: list[dict]) -> list[str]:
    return [wrap(key_label(g["key"]), 26) + f"\n(n={g['n_runs']})" for g in groups]


def accuracy_figure(groups: list[dict]) -> Figure:
    fig, axes = wide_figure(1, len(groups))
    ax, x = axes[0], np.arange(len(groups))
    for name, label, color in BASELINES:
        for i, g in enumerate(groups):
            mean = mean_and_error(g["metrics"].get(name))[0]
            ax.hlines(mean, i - 0.35, i + 0.35, colors=color, linestyles="--",
                      label=label if i == 0 else None)
    points(ax, x, [g["metrics"].get("test/acc") for g in groups], color="C0", label="model (95% CI)")
    ax.set_xticks(x, labels_of(groups), fontsize=7)
    ax.set_ylabel("test accuracy")
    ax.set_title(f"Test accuracy: mean and 95% CI over seeds\ndashed: task baselines; {CLIPPED}", fontsize=9)
    legend_beside(ax)
    return fig


def attention_figure(groups: list[dict]) -> Figure:
    fig, axes = wide_figure(2, len(groups))
    x, labels = np.arange(len(groups)), labels_of(groups)
    for ax, metric, title in ((axes[0], "entropy", "entropy / log T"),
                              (axes[1], "dep_alignment", "dependency alignment")):
        for shift, stage, color in ((-0.1, "before", "0.5"), (0.1, "after", "C0")):
            points(ax, x + shift, [g["metrics"].get(f"{metric}/{stage}") for g in groups], color=color,
                   label=stage)
        if metric == "dep_alignment":
            points(ax, x + 0.25, [g["metrics"].get("best_offset") for g in groups], color="C3", marker="s",
                   label="best fixed offset")
        ax.set_xticks(x, labels, fontsize=7)
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{title}: before → after training\n95% CI over seeds, {CLIPPED}", fontsize=9)
        legend_beside(ax)
    return fig


def relations_figure(groups: list[dict]) -> Figure:
    counts: dict[str, float] = {}
    for g in groups:
        for rel, r in g["relations"].items():
            counts[rel] = counts.get(rel, 0.0) + r["n"]
    relations = sorted(counts, key=lambda rel: counts[rel], reverse=True)[:TOP_RELATIONS]
    fig, axes = plots.new_figure(1, cell=max(4.5, 0.5 * len(relations) + 2))
    ax, y = axes[0], np.arange(len(relations))
    height = 0.8 / max(1, len(groups))
    for k, g in enumerate(groups):
        found = [g["relations"].get(rel, {}) for rel in relations]
        summaries = [r.get("best_head_margin") or r.get("margin")
                     for r in found]  # the best head's (older studies: the head-averaged margin)
        means, errors = zip(*(mean_and_error(s, DIFFERENCE) for s in summaries)) if summaries else ((), ())
        ax.barh(y + k * height, means, height, xerr=np.array(errors).T if errors else None, capsize=3,
                label=wrap(key_label(g["key"]), 40))
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y + 0.4 - height / 2, relations, fontsize=8)
    ax.set_xlabel("the best head's alignment to the head minus the best fixed offset's")
    ax.set_title(f"Per relation (the {len(relations)} most frequent): above 0 = beats position\n"
                 f"95% CI over seeds, {CLIPPED}", fontsize=9)
    legend_beside(ax, fontsize=7)
    return fig


CURVE_KEY = "data.train_limit"


def learning_curve_figure(groups: list[dict]) -> Figure:
    """Accuracy against training sentences (log x), one line per other setting, with 95% CIs and
    the baselines fitted on the same subsamples (dashed)."""
    fig = Figure(figsize=(7.5, 5.0), layout="constrained")
    ax = fig.subplots()
    lines: dict[str, list[dict]] = {}
    for g in groups:
        rest = {k: v for k, v in g["key"].items() if k != CURVE_KEY}
        lines.setdefault(key_label(rest), []).append(g)
    for k, (label, members) in enumerate(sorted(lines.items())):
        members = sorted(members, key=lambda g: float(g["key"][CURVE_KEY]))
        x = [float(g["key"][CURVE_KEY]) for g in members]
        accuracy = [g["metrics"].get("test/acc") for g in members]
        points(ax, x, accuracy, color=LINE_COLORS[k % len(LINE_COLORS)], label=label, linestyle="-")
    baseline_of = {float(g["key"][CURVE_KEY]): g for g in groups}  # the same subsample in every line
    x = sorted(baseline_of)
    for name, label, color in BASELINES[1:]:
        ax.plot(x, [mean_and_error(baseline_of[v]["metrics"].get(name))[0] for v in x], "--", color=color,
                label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training sentences (data.train_limit)")
    ax.set_ylabel("test accuracy")
    ax.set_title("Learning curve: mean and 95% CI over seeds\n(dashed: baselines on the same sentences)",
                 fontsize=9)
    legend_beside(ax)
    return fig


def figures(study: dict) -> dict[str, Figure]:
    groups = study["groups"]
    if not groups:
        return {}
    out = {"study_accuracy": accuracy_figure(groups), "study_attention": attention_figure(groups),
           "study_relations": relations_figure(groups)}
    if all(str(g["key"].get(CURVE_KEY, "None")).isdigit() for g in groups):  # grouped by train_limit
        out["study_learning_curve"] = learning_curve_figure(groups)
    return out


def to_tensorboard(folder: Path, markdown: str, figures: dict[str, Figure]) -> None:
    """The table and the figures in an event file, so ``tensorboard --logdir`` shows the study."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(folder)) as writer:
        writer.add_text("study/table", markdown)
        for name, fig in figures.items():
            writer.add_figure(f"study/{name}", fig, close=False)
