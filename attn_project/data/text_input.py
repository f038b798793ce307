"""Sentences a user types or gives in a file, split into words and punctuation as treebanks
tokenise them: what the inspect commands (trained and pretrained) read."""

from __future__ import annotations

import re
from pathlib import Path

from attn_project.errors import ConfigError, DataError

WORD = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Words and punctuation marks, as treebanks tokenise them ("boats." → "boats", ".")."""
    return WORD.findall(text)


def read_sentences(text: str | None, file: str | None) -> list[str]:
    """Sentences from ``text`` or one per line of ``file``; blank input is an error."""
    if file:
        path = Path(file)
        if not path.is_file():
            raise DataError(f"file={path}: no such file of sentences (one per line)")
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        sentences = [line for line in lines if line]
        where = f"file={path}"
    else:
        sentences = [text.strip()] if text and text.strip() else []
        where = "text"
    if not sentences:
        raise ConfigError(f"{where}: nothing to inspect — give a sentence, e.g. "
                         f'text="The old man the boats ."')
    return sentences
