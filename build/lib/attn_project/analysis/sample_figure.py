"""A sample's heat-map figure drawn once and then refreshed cheaply, epoch after epoch.

The sample sentence, its tokens, the axes and the colour bar never change during a fit; only
the attention values and the title do. So the figure is drawn in full once, and each later
frame redraws only the heat-map images and the title over a saved copy of that drawing
(matplotlib blitting), then encodes the pixels as PNG for TensorBoard.

Speed is the point here (these figures are drawn while training waits): the layout is computed
from the token count in inches instead of by a layout engine, and the tokens are plain text
artists rather than tick labels — together about 4× cheaper to draw the first time. For
report figures, where speed does not matter, see ``plots``.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg  # pyplot-free: no window, no backend
from matplotlib.figure import Figure
from PIL import Image

DPI = 90
CELL = 0.24  # inches per token
FONT = 8  # points, token labels
CHAR = 0.062  # inches per character of an 8-point label (a generous average)
MAX_CHARS = 14  # longer tokens (URLs, e-mail addresses) are shortened with "…"
TITLE = 0.3  # inches for a title line
AXIS_LABEL = 0.3  # inches for "attended token (key)" and its y counterpart
GAP = 0.35  # inches between panels
COLOR_BAR = 1.0  # inches on the right for the colour bar and its label


def short(token: str) -> str:
    return token if len(token) <= MAX_CHARS else token[: MAX_CHARS - 1] + "…"


def draw_token_labels(ax, tokens: Sequence[str], margin: float) -> None:
    """Tokens beside the rows and under the columns, as text in data/axes coordinates."""
    ax.set_xticks([])
    ax.set_yticks([])
    under, left = ax.get_xaxis_transform(), ax.get_yaxis_transform()  # x data/y axes; x axes/y data
    for i, token in enumerate(map(short, tokens)):
        ax.text(i, -0.01, token, transform=under, rotation=90, ha="center", va="top", fontsize=FONT)
        ax.text(-0.01, i, token, transform=left, ha="right", va="center", fontsize=FONT)
    ax.set_xlabel("attended token (key)", labelpad=margin * 72)
    ax.set_ylabel("attending token (query)", labelpad=margin * 72)
    for spine in ax.spines.values():
        spine.set_visible(False)


class SampleFigure:
    """The mask map of one sample sentence beside every head's attention to one masked input.

    ``update(mask_map [H, T, T], raw [H, T, T], title)`` returns the frame as PNG bytes.
    """

    def __init__(self, tokens: Sequence[str], masked_tokens: Sequence[str], masked_word: str,
                 num_heads: int, cmap: str = "viridis"):
        panels = [(tokens, "mask map (row i: [MASK] at i)" + (" — mean of heads" if num_heads > 1 else ""))]
        panels += [(masked_tokens, f"head {h}: '{short(masked_word)}' masked") for h in range(num_heads)]
        ncols = min(len(panels), 3)
        nrows = -(-len(panels) // ncols)
        side = max(2.4, CELL * len(tokens))  # the heat map itself
        margin = CHAR * max(len(short(t)) for t in [*tokens, *masked_tokens]) + 0.1  # the labels
        cell_w = AXIS_LABEL + margin + side + GAP
        cell_h = TITLE + side + margin + AXIS_LABEL
        width, height = ncols * cell_w + COLOR_BAR, nrows * cell_h + TITLE
        self.figure = Figure(figsize=(width, height), dpi=DPI)
        self.canvas = FigureCanvasAgg(self.figure)
        self.images = []
        for k, (labels, title) in enumerate(panels):
            row, col = divmod(k, ncols)
            left = col * cell_w + AXIS_LABEL + margin
            bottom = height - TITLE - row * cell_h - TITLE - side
            ax = self.figure.add_axes((left / width, bottom / height, side / width, side / height))
            self.images.append(ax.imshow(np.zeros((len(labels), len(labels))), vmin=0.0, vmax=1.0,
                                         cmap=cmap, interpolation="nearest", animated=True))
            draw_token_labels(ax, labels, margin)
            ax.set_title(title, fontsize=10)
        bar = self.figure.add_axes(((width - COLOR_BAR + 0.15) / width, 0.15, 0.15 / width, 0.7))
        self.figure.colorbar(self.images[0], cax=bar, label="attention weight")
        self.title = self.figure.suptitle("", y=1 - 0.08 / height, va="top", animated=True)
        self.canvas.draw()  # everything but the animated images and title
        self.background = self.canvas.copy_from_bbox(self.figure.bbox)

    def update(self, mask_map: np.ndarray, raw: np.ndarray, title: str) -> bytes:
        """One frame: new attention values and title over the saved drawing → PNG bytes."""
        self.canvas.restore_region(self.background)
        for image, matrix in zip(self.images, [mask_map.mean(0), *raw]):
            image.set_data(matrix)
            self.figure.draw_artist(image)
        self.title.set_text(title)
        self.figure.draw_artist(self.title)
        return png_bytes(np.asarray(self.canvas.buffer_rgba()))


def png_bytes(rgba: np.ndarray) -> bytes:
    """Encode pixels [H, W, 4] as PNG (fast zlib level: these are logged every epoch)."""
    buffer = io.BytesIO()
    Image.fromarray(rgba[..., :3]).save(buffer, format="png", compress_level=1)
    return buffer.getvalue()
