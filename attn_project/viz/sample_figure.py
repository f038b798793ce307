"""A sample's heat-map figures drawn once and then refreshed cheaply, epoch after epoch.

The sample sentence, its tokens, the axes and the colour bar never change during a fit; only
the attention values and the title do. So the figure is drawn in full once per sample, and each
later frame redraws only the heat-map image and the title over a saved copy of that drawing
(matplotlib blitting), then encodes the pixels as PNG for TensorBoard.

The panels of one sample (its mask map and each head's attention to the masked input) share that
drawing: they differ only in the label at the masked position (the word, or [MASK]) and a line
saying what the panel shows, so each panel's background is the shared drawing with those three
texts drawn on it, saved once.

Speed is the point here (these figures are drawn while training waits): the layout is computed
from the token count in inches instead of by a layout engine, and the tokens are plain text
artists rather than tick labels — together about 4× cheaper to draw the first time; one drawing
per sample instead of one per panel saves as much again with one head, more with several. Each
image holds one heat map at TensorBoard's card width. For report figures (full size, several
panels), see ``plots``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg  # pyplot-free: no window, no backend
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

DPI = 100
WIDTH = 2.9  # inches: 290 px, TensorBoard's default image-card width, so nothing is scaled down
FONT = 7.5  # points, token labels (~10 px)
CHAR = 0.058  # inches per character of a 7.5-point label (a generous average)
MAX_CHARS = 10  # longer tokens (URLs, e-mail addresses) are shortened with "…"
TITLE = 0.42  # inches for the two title lines
COLOR_BAR = 0.42  # inches on the right for the colour bar and its numbers
PAD = 0.06  # inches around the figure


def short(token: str) -> str:
    return token if len(token) <= MAX_CHARS else token[: MAX_CHARS - 1] + "…"


def token_labels(ax: Axes, tokens: Sequence[str]) -> list[tuple[Text, Text]]:
    """Tokens beside the rows and under the columns, as text in data/axes coordinates; returns
    each position's (row label, column label)."""
    ax.set_xticks([])
    ax.set_yticks([])
    under, left = ax.get_xaxis_transform(), ax.get_yaxis_transform()  # x data/y axes; x axes/y data
    labels = [(ax.text(-0.01, i, token, transform=left, ha="right", va="center", fontsize=FONT),
               ax.text(i, -0.01, token, transform=under, rotation=90, ha="center", va="top", fontsize=FONT))
              for i, token in enumerate(map(short, tokens))]
    for spine in ax.spines.values():
        spine.set_visible(False)
    return labels


class SampleFigure:
    """The heat maps of one sample sentence, laid out for TensorBoard's image card (290 px wide,
    readable without "Show actual image size"); the report keeps the full-size figures.

    ``masked`` is the position whose labels differ between panels: ``update(matrix [T, T],
    title, what, show_mask)`` returns a frame as PNG bytes, labelled with the sentence's word at
    ``masked`` or, with ``show_mask``, with ``mask_token`` (the input the attention was read from).
    """

    def __init__(self, tokens: Sequence[str], masked: int | None = None, mask_token: str = "[MASK]",
                 cmap: str = "viridis"):
        self.word, self.mask_token = (short(tokens[masked]) if masked is not None else None), mask_token
        widest = max(len(short(t)) for t in [*tokens, *([mask_token] if masked is not None else [])])
        margin = CHAR * widest + 0.08  # the token labels
        side = WIDTH - 2 * PAD - margin - COLOR_BAR  # the heat map itself, square
        height = PAD + TITLE + side + margin + PAD
        self.figure = Figure(figsize=(WIDTH, height), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        bottom = (PAD + margin) / height
        ax = self.figure.add_axes(((PAD + margin) / WIDTH, bottom, side / WIDTH, side / height))
        self.image = ax.imshow(np.zeros((len(tokens), len(tokens))), vmin=0.0, vmax=1.0, cmap=cmap,
                               interpolation="nearest", animated=True)
        labels = token_labels(ax, tokens)
        self.varying = list(labels[masked]) if masked is not None else []  # drawn per panel
        self.what = ax.text(0.5, 1.02, "", transform=ax.transAxes, ha="center", va="bottom", fontsize=FONT)
        for text in [*self.varying, self.what]:
            text.set_animated(True)
        bar = self.figure.add_axes(((WIDTH - PAD - COLOR_BAR + 0.08) / WIDTH, bottom, 0.1 / WIDTH,
                                    side / height))
        self.figure.colorbar(self.image, cax=bar, ticks=[0, 0.5, 1]).ax.tick_params(labelsize=FONT)
        self.title = self.figure.text(PAD / WIDTH, 1 - PAD / height, "", ha="left", va="top", fontsize=9,
                                      weight="bold", animated=True)
        self.canvas.draw()  # everything but the animated artists
        self.shared = self.canvas.copy_from_bbox(self.figure.bbox)
        self.panels: dict[tuple[str, bool], object] = {}  # (what, show_mask) → saved background

    def panel(self, what: str, show_mask: bool) -> object:
        """The saved background of one panel: the shared drawing with the panel's own texts."""
        key = (what, show_mask)
        if key not in self.panels:
            self.canvas.restore_region(self.shared)
            self.what.set_text(what)
            for label in self.varying:
                label.set_text(self.mask_token if show_mask else self.word)
            for text in [*self.varying, self.what]:
                self.figure.draw_artist(text)
            self.panels[key] = self.canvas.copy_from_bbox(self.figure.bbox)
        return self.panels[key]

    def update(self, matrix: np.ndarray, title: str, what: str = "", show_mask: bool = False) -> bytes:
        """One frame: new attention values and title over the panel's saved drawing → PNG bytes."""
        self.canvas.restore_region(self.panel(what, show_mask))
        self.image.set_data(matrix)
        self.figure.draw_artist(self.image)
        self.title.set_text(title)
        self.figure.draw_artist(self.title)
        return png_bytes(np.asarray(self.canvas.buffer_rgba()))


def png_bytes(rgba: np.ndarray) -> bytes:
    """Encode pixels [H, W, 4] as PNG (fast zlib level: these are logged every epoch)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()
