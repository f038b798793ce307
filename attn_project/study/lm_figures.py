"""A language-model study's figures: per relation, the best head's margin over its offset and over
its category rule by setting; and that margin over training, one curve per setting (mean and 95%
interval over seeds), the treebank loss below."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from attn_project.study.figures import DIFFERENCE, mean_and_error, points
from attn_project.study.lm_table import DIRECTION, RELATIONS, relation_metric
from attn_project.study.table import key_label

SERIES = (("margin_over_offset", "− best offset", "C0"), ("margin_over_category", "− category rule", "C3"))


def lm_figures(study: dict) -> dict[str, Figure]:
    groups = study["groups"]
    if not groups:
        return {}
    return {"study_margins": margins_figure(groups), "study_emergence": emergence_figure(groups)}


def margins_figure(groups: list[dict]) -> Figure:
    fig = Figure(figsize=(3.2 * len(RELATIONS) + 1, 4.6), layout="constrained")
    axes = fig.subplots(1, len(RELATIONS), sharey=True, squeeze=False)
    x = np.arange(len(groups))
    labels = [" · ".join(map(str, g["key"].values())) or "all runs" for g in groups]  # values only: short
    for ax, rel in zip(axes[0], RELATIONS):
        for shift, (name, label, color) in zip((-0.12, 0.12), SERIES):
            points(ax, x + shift, [g["metrics"].get(relation_metric(rel, name)) for g in groups], DIFFERENCE,
                   color=color, label=f"best head {label}")
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=7)
        ax.set_title(f"{rel} (dependent → head)", fontsize=9)
    axes[0][0].set_ylabel("test accuracy difference (final checkpoint)")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("The best head against position and against the category rule (mean, 95% CI over seeds)",
                 fontsize=10)
    return fig


def emergence_figure(groups: list[dict]) -> Figure:
    fig = Figure(figsize=(3.4 * len(RELATIONS) + 3, 6.5), layout="constrained")
    axes = fig.subplots(2, len(RELATIONS), sharex=True, squeeze=False, gridspec_kw={"height_ratios": [2, 1]})
    for column, rel in enumerate(RELATIONS):
        ax, below = axes[0][column], axes[1][column]
        for index, g in enumerate(groups):
            color = f"C{index % 10}"
            curve(ax, g.get("curves", {}).get(f"{rel} ({DIRECTION})", {}), color, key_label(g["key"]))
            curve(below, g.get("curves", {}).get("treebank_loss", {}), color, None)
        ax.axhline(0, color="0.5", linewidth=0.8)
        ax.set_title(f"{rel}: best head − best offset", fontsize=9)
        below.set_xscale("symlog", linthresh=10)
        below.set_xlabel("training step")
    axes[0][0].set_ylabel("test accuracy difference")
    axes[1][0].set_ylabel("treebank loss")
    axes[0][-1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Heads over training, by setting (mean and 95% CI over seeds)", fontsize=10)
    return fig


def curve(ax: Axes, by_step: dict[str, dict], color: str, label: str | None) -> None:
    """One setting's mean over seeds at each saved step, its interval as a band."""
    steps = sorted(by_step, key=int)
    if not steps:
        return
    x = np.array([int(s) for s in steps])
    means, errors = zip(*(mean_and_error(by_step[s]) for s in steps))
    low = np.array(means) - np.array([e[0] for e in errors])
    high = np.array(means) + np.array([e[1] for e in errors])
    ax.plot(x, means, color=color, marker="o", markersize=3, label=label)
    ax.fill_between(x, low, high, color=color, alpha=0.15, linewidth=0)
