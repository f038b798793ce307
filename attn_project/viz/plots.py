"""Seaborn heat maps of attention: single maps, per-head grids, before/after panels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from torch import Tensor


def as_numpy(matrix: Tensor | np.ndarray) -> np.ndarray:
    return matrix.detach().cpu().float().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)


def heatmap(ax: Axes, matrix: Tensor | np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
            title: str, *,
            vmin: float | None = 0.0, vmax: float | None = 1.0, cmap: str = "viridis",
            cbar_label: str = "attention weight") -> None:
    """Token-labelled heat map on ``ax``: rows = queries (attending), columns = keys (attended)."""
    sns.heatmap(as_numpy(matrix), ax=ax, xticklabels=list(col_labels),
                yticklabels=list(row_labels), vmin=vmin, vmax=vmax, cmap=cmap, square=True,
                cbar_kws={"label": cbar_label, "shrink": 0.8})
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("attended token (key)")
    ax.set_ylabel("attending token (query)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=8)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)


def new_figure(ncols: int, nrows: int = 1, cell: float = 4.2) -> tuple[Figure, np.ndarray]:
    """A pyplot-free figure (safe in callbacks and threads) with a grid of axes."""
    fig = Figure(figsize=(cell * ncols + 0.8, cell * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    return fig, axes


def single_map_figure(matrix: Tensor | np.ndarray, tokens: Sequence[str], title: str, **kw: Any) -> Figure:
    fig, axes = new_figure(1)
    heatmap(axes[0], matrix, tokens, tokens, title, **kw)
    return fig


def head_grid_figure(weights: Tensor | np.ndarray, tokens: Sequence[str], title: str,
                     first_panel: Tensor | np.ndarray | None = None, first_title: str = "",
                     panel_names: Sequence[str] | None = None) -> Figure:
    """One panel per head ([H, T, T]), named ``panel_names`` (default "head h"); optionally a first
    panel (e.g. the mask map) before them."""
    names = list(panel_names) if panel_names is not None else [f"head {h}" for h in range(len(weights))]
    panels = ([(first_panel, first_title)] if first_panel is not None else []) + [
        (weights[h], names[h]) for h in range(len(weights))
    ]
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols, nrows)
    for ax, (matrix, panel_title) in zip(axes, panels):
        heatmap(ax, matrix, tokens, tokens, panel_title)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def before_after_figure(before: Tensor | np.ndarray, after: Tensor | np.ndarray, tokens: Sequence[str],
                        title: str,
                        before_title: str = "before training", after_title: str = "after training"
                        ) -> Figure:
    fig, axes = new_figure(2)
    heatmap(axes[0], before, tokens, tokens, before_title)
    heatmap(axes[1], after, tokens, tokens, after_title)
    fig.suptitle(title)
    return fig


def save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    return path
