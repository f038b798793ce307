"""Seaborn heat maps of attention: single maps, per-head grids, before/after panels."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from torch import Tensor

from attn_project.errors import ConfigError


def as_numpy(matrix: Tensor | np.ndarray) -> np.ndarray:
    return matrix.detach().cpu().float().numpy() if hasattr(matrix, "detach") else np.asarray(matrix)


def heatmap(ax: Axes, matrix: Tensor | np.ndarray, row_labels: Sequence[str], col_labels: Sequence[str],
            title: str, *,
            vmin: float | None = 0.0, vmax: float | None = 1.0, cmap: str = "viridis",
            cbar_label: str = "attention weight", gold_heads: Sequence[int] | None = None) -> None:
    """Token-labelled heat map on ``ax``: rows = queries (attending), columns = keys (attended);
    ``gold_heads`` (row i's gold head's column, -1 for the root) outlines each row's gold head."""
    sns.heatmap(as_numpy(matrix), ax=ax, xticklabels=list(col_labels),
                yticklabels=list(row_labels), vmin=vmin, vmax=vmax, cmap=cmap, square=True,
                cbar_kws={"label": cbar_label, "shrink": 0.8})
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("attended token (key)")
    ax.set_ylabel("attending token (query)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=8)
    ax.tick_params(axis="y", labelrotation=0, labelsize=8)
    if gold_heads is not None:
        mark_gold_heads(ax, gold_heads, as_numpy(matrix).shape)


def mark_gold_heads(ax: Axes, gold_heads: Sequence[int], shape: tuple[int, ...]) -> None:
    """A red outline on each row's gold head (none for the root or where the rows are not the words)."""
    rows, cols = shape[0], shape[1]
    if len(gold_heads) != rows:
        return
    for row, head in enumerate(gold_heads):
        if 0 <= head < cols:
            ax.add_patch(Rectangle((head, row), 1, 1, fill=False, edgecolor="red", linewidth=1.4))
    ax.set_xlabel("attended token (key); red outline: the row word's gold head")


def new_figure(ncols: int, nrows: int = 1, cell: float = 4.2) -> tuple[Figure, np.ndarray]:
    """A pyplot-free figure (safe in callbacks and threads) with a grid of axes."""
    fig = Figure(figsize=(cell * ncols + 0.8, cell * nrows), layout="constrained")
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).reshape(-1)
    return fig, axes


ROW_INCHES = 0.12  # a word's row at 8 pt labels: a long sentence's panel grows, its labels do not shrink


def readable_cell(words: int) -> float:
    """A panel's side in inches: the default 4.2 up to ~22 words, then room for each word's label."""
    return max(4.2, ROW_INCHES * words + 1.5)


def single_map_figure(matrix: Tensor | np.ndarray, tokens: Sequence[str], title: str, **kw: Any) -> Figure:
    fig, axes = new_figure(1)
    heatmap(axes[0], matrix, tokens, tokens, title, **kw)
    return fig


def head_grid_figure(weights: Tensor | np.ndarray, tokens: Sequence[str], title: str,
                     first_panel: Tensor | np.ndarray | None = None, first_title: str = "",
                     panel_names: Sequence[str] | None = None,
                     gold_heads: Sequence[int] | None = None) -> Figure:
    """One panel per head ([H, T, T]), named ``panel_names`` (default "head h"); optionally a first
    panel (e.g. the mask map) before them."""
    names = list(panel_names) if panel_names is not None else [f"head {h}" for h in range(len(weights))]
    panels = ([(first_panel, first_title)] if first_panel is not None else []) + [
        (weights[h], names[h]) for h in range(len(weights))
    ]
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig, axes = new_figure(ncols, nrows, cell=readable_cell(len(tokens)))
    for ax, (matrix, panel_title) in zip(axes, panels):
        heatmap(ax, matrix, tokens, tokens, panel_title, gold_heads=gold_heads)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def before_after_figure(before: Tensor | np.ndarray, after: Tensor | np.ndarray, tokens: Sequence[str],
                        title: str,
                        before_title: str = "before training", after_title: str = "after training",
                        gold_heads: Sequence[int] | None = None) -> Figure:
    fig, axes = new_figure(2)
    heatmap(axes[0], before, tokens, tokens, before_title, gold_heads=gold_heads)
    heatmap(axes[1], after, tokens, tokens, after_title, gold_heads=gold_heads)
    fig.suptitle(title)
    return fig


VECTOR_FORMATS = ("svg", "pdf")
extra_formats: list[str] = []  # set by each command from viz.format; from Python: set_figure_formats


def set_figure_formats(value: str) -> None:
    """``viz.format``: png (the default), or any of svg, pdf (comma-separated) written beside each PNG."""
    asked = [part.strip().lower() for part in str(value).split(",") if part.strip()]
    unknown = [part for part in asked if part not in ("png", *VECTOR_FORMATS)]
    if unknown or not asked:
        raise ConfigError(f"viz.format={value!r}: choose png, svg, pdf or a comma-separated mix (svg,pdf)")
    extra_formats[:] = [fmt for fmt in VECTOR_FORMATS if fmt in asked]


def save(fig: Figure, path: Path) -> Path:
    """The figure as ``path`` (PNG) and, with viz.format, as SVG / PDF beside it (text as glyph
    outlines in SVG, TrueType fonts embedded in PDF: they look the same on any machine)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.05)  # no label cut at the edges
    with matplotlib.rc_context({"svg.fonttype": "path", "pdf.fonttype": 42}):
        for fmt in extra_formats:
            fig.savefig(path.with_suffix(f".{fmt}"), format=fmt, bbox_inches="tight", pad_inches=0.05)
    return path
