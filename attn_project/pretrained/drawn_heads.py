"""Which of a pretrained encoder's heads inspect draws (``layers=[2]``, ``heads=[L2H1]``) and whether
a sentence is drawn at all (``figures``): every head's data is always exported; a long sentence's
figures are what grows (a T × T panel per head), so a sentence past ``LONG_WORDS`` is warned about
and one past ``MAX_DRAWN_WORDS`` is drawn only for heads chosen by name, else written as data only.
A file's first ``MAX_DRAWN_SENTENCES`` sentences get figures (trained and pretrained inspect), the
rest data only, so that a whole treebank is not thousands of PNGs."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from attn_project.errors import ConfigError

log = logging.getLogger(__name__)
LONG_WORDS = 40  # warned about: each panel T × T
MAX_DRAWN_WORDS = 80  # past it, every head's figures are not drawn unless layers/heads choose some
MAX_DRAWN_SENTENCES = 50  # figures=auto: a longer file's later sentences are written as data only
HEAD_NAME = re.compile(r"L(\d+)H(\d+)")
FIGURES = ("auto", "true", "false")


@dataclass(frozen=True)
class DrawnHeads:
    """The layers whose figures are drawn and, per layer, the head indices within it."""

    by_layer: dict[int, list[int]]
    chosen: bool  # layers= or heads= was given

    def draws(self, words: int, figures: str) -> bool:
        """Whether a sentence of ``words`` words gets figures by its length alone (``figures``: auto,
        true, false; the file's sentence budget is ``within_sentence_budget``)."""
        if figures == "false":
            return False
        return figures == "true" or self.chosen or words <= MAX_DRAWN_WORDS


def chosen_heads(layers: list | None, heads: list | None, num_layers: int, num_heads: int) -> DrawnHeads:
    """``layers=[…]`` (layer numbers) and ``heads=[…]`` (``L<l>H<h>``) → the heads to draw; none
    given: every head. Both given: the named heads and every head of the named layers."""
    if not layers and not heads:
        return DrawnHeads({layer: list(range(num_heads)) for layer in range(num_layers)}, chosen=False)
    by_layer: dict[int, set[int]] = {}
    for layer in layers or []:
        if not isinstance(layer, int) or isinstance(layer, bool) or not 0 <= layer < num_layers:
            raise ConfigError(f"layers={list(layers or [])}: {layer!r} is not a layer of this model "
                              f"(0 to {num_layers - 1})")
        by_layer.setdefault(layer, set()).update(range(num_heads))
    for name in heads or []:
        match = HEAD_NAME.fullmatch(str(name))
        if not match or int(match[1]) >= num_layers or int(match[2]) >= num_heads:
            raise ConfigError(f"heads={list(heads or [])}: {name!r} is not a head of this model "
                              f"(L0H0 to L{num_layers - 1}H{num_heads - 1})")
        by_layer.setdefault(int(match[1]), set()).add(int(match[2]))
    return DrawnHeads({layer: sorted(by_layer[layer]) for layer in sorted(by_layer)}, chosen=True)


def check_figures(value: object) -> str:
    text = str(value).lower()
    if text not in FIGURES:
        raise ConfigError(f"figures={value!r}: choose auto (figures for a file's first "
                          f"{MAX_DRAWN_SENTENCES} sentences; pretrained: none past {MAX_DRAWN_WORDS} words "
                          f"unless heads are chosen), true or false")
    return text


def within_sentence_budget(n: int, figures: str) -> bool:
    """Whether sentence ``n`` of a file may get figures: ``figures=auto`` draws the first
    ``MAX_DRAWN_SENTENCES``, ``true`` every one, ``false`` none."""
    return figures == "true" or (figures == "auto" and n < MAX_DRAWN_SENTENCES)


def warn_if_undrawn(sentences: int, figures: str) -> None:
    """One warning line when ``figures=auto`` leaves a long file's later sentences as data only."""
    if figures == "auto" and sentences > MAX_DRAWN_SENTENCES:
        log.warning("%d sentences: figures for the first %d, every sentence in attention.html/.json/.npz "
                    "(figures=true draws every one)", sentences, MAX_DRAWN_SENTENCES)


def warn_if_long(n: int, words: int, drawn: DrawnHeads, figures: str) -> None:
    """One warning line for a sentence long enough that its figures are slow or unreadable."""
    if words <= LONG_WORDS or figures == "false":
        return
    if drawn.draws(words, figures):
        panels = sum(len(h) for h in drawn.by_layer.values())
        log.warning("sentence %d has %d words: %d panels of %d × %d cells, drawn large so the labels "
                    "stay readable; layers=[…] or heads=[L<l>H<h>] draws fewer", n, words, panels, words,
                    words)
    else:
        log.warning("sentence %d has %d words, more than %d: too long to draw every head legibly, written "
                    "as data only (attention.npz/json/html); heads=[L<l>H<h>] or figures=true draws it",
                    n, words, MAX_DRAWN_WORDS)
