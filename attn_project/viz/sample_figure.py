"""A sample's heat-map figure drawn once and then refreshed cheaply, epoch after epoch.

The sample sentence, its tokens, the axes and the colour bar never change during a fit; only
the attention values and the title do. So the figure is drawn in full once, and each later
frame redraws only the heat-map images and the title over a saved copy of that drawing
(matplotlib blitting), then encodes the pixels as PNG for TensorBoard.

Speed is the point here (these figures are drawn while training waits): the layout is computed
from the token count in inches instead of by a layout engine, and the tokens are plain text
artists rather than tick labels — together about 4× cheaper to draw the first time. Each image
holds one heat map at TensorBoard's card width. For report figures (full size, several panels),
see ``plots``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg  # pyplot-free: no window, no backend
from matplotlib.figure import Figure
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


def draw_token_labels(ax: Axes, tokens: Sequence[str]) -> None:
    """Tokens beside the rows and under the columns, as text in data/axes coordinates."""
    ax.set_xticks([])
    ax.set_yticks([])
    under, left = ax.get_xaxis_transform(), ax.get_yaxis_transform()  # x data/y axes; x axes/y data
    for i, token in enumerate(map(short, tokens)):
        ax.text(i, -0.01, token, transform=under, rotation=90, ha="center", va="top", fontsize=FONT)
        ax.text(-0.01, i, token, transform=left, ha="right", va="center", fontsize=FONT)
    for spine in ax.spines.values():
        spine.set_visible(False)


class SampleFigure:
    """One heat map of one sample sentence, laid out for TensorBoard's image card (290 px wide,
    readable without "Show actual image size"); the report keeps the full-size figures.

    ``update(matrix [T, T], title)`` returns the frame as PNG bytes.
    """

    def __init__(self, tokens: Sequence[str], what: str, cmap: str = "viridis"):
        margin = CHAR * max(len(short(t)) for t in tokens) + 0.08  # the token labels
        side = WIDTH - 2 * PAD - margin - COLOR_BAR  # the heat map itself, square
        height = PAD + TITLE + side + margin + PAD
        self.figure = Figure(figsize=(WIDTH, height), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        bottom = (PAD + margin) / height
        ax = self.figure.add_axes(((PAD + margin) / WIDTH, bottom, side / WIDTH, side / height))
        self.image = ax.imshow(np.zeros((len(tokens), len(tokens))), vmin=0.0, vmax=1.0, cmap=cmap,
                               interpolation="nearest", animated=True)
        draw_token_labels(ax, tokens)
        ax.text(0.5, 1.02, what, transform=ax.transAxes, ha="center", va="bottom", fontsize=FONT)
        bar = self.figure.add_axes(((WIDTH - PAD - COLOR_BAR + 0.08) / WIDTH, bottom, 0.1 / WIDTH,
                                    side / height))
        self.figure.colorbar(self.image, cax=bar, ticks=[0, 0.5, 1]).ax.tick_params(labelsize=FONT)
        self.title = self.figure.text(PAD / WIDTH, 1 - PAD / height, "", ha="left", va="top", fontsize=9,
                                      weight="bold", animated=True)
        self.canvas.draw()  # everything but the animated image and title
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def update(self, matrix: np.ndarray, title: str) -> bytes:
        """One frame: new attention values and title over the saved drawing → PNG bytes."""
        self.canvas.restore_region(self.background)
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
