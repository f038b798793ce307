"""UPOS → the task's classes: 1 = content word, 0 = function word, IGNORE = not a target."""

from __future__ import annotations

from collections.abc import Iterable

from attn_project.errors import ConfigError

CONTENT = ("NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM")
FUNCTION = ("ADP", "DET", "AUX", "PRON", "CCONJ", "SCONJ", "PART")
IGNORE = -100  # torch.nn.functional.cross_entropy's default ignore_index
CLASS_NAMES = ("function", "content")


class LabelMap:
    """Which UPOS tags are content words and which function words (the rest are never targets)."""

    def __init__(self, content: Iterable[str] = CONTENT, function: Iterable[str] = FUNCTION):
        self.content, self.function = frozenset(content), frozenset(function)
        both = self.content & self.function
        if both:
            raise ConfigError(f"data.labels: {sorted(both)} listed as both content and function")

    def label(self, upos: str) -> int:
        if upos in self.content:
            return 1
        if upos in self.function:
            return 0
        return IGNORE

    def labels(self, upos: Iterable[str]) -> list[int]:
        return [self.label(tag) for tag in upos]
