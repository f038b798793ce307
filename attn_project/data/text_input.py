"""Sentences a user types or gives in a file, split into words and punctuation as treebanks
tokenise them: what the inspect commands (trained and pretrained) read. A CoNLL-U file gives its
sentences' own words and gold trees (each word's head), which the heat maps and the HTML view mark."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class InputSentence:
    words: list[str]
    gold_heads: list[int] | None = None  # 0-based head per word, -1 the root (a CoNLL-U file's)


def read_inputs(text: str | None, file: str | None) -> list[InputSentence]:
    """``read_sentences`` split into words, or a CoNLL-U file's sentences (``.conllu``, ``.conll``)
    with their gold heads."""
    if file and Path(file).suffix.lower() in (".conllu", ".conll"):
        from attn_project.data.conllu import read_conllu

        if not Path(file).is_file():
            raise DataError(f"file={file}: no such CoNLL-U file")
        return [InputSentence(list(s.tokens), list(s.heads)) for s in read_conllu(file)]
    return [InputSentence(split_words(sentence)) for sentence in read_sentences(text, file)]


def fitting(sentences: list[InputSentence], fits: Callable[[InputSentence], bool],
            limit: str) -> list[InputSentence]:
    """A treebank's sentences that ``fits`` (the others skipped and counted: a treebank is read whole);
    typed sentences are all kept, for the model to refuse one that is too long, never cut it."""
    if not sentences or sentences[0].gold_heads is None:
        return sentences
    kept = [s for s in sentences if fits(s)]
    if len(kept) < len(sentences):
        print(f"skipped {len(sentences) - len(kept)} of {len(sentences)} treebank sentences longer than "
              f"{limit}")
    if not kept:
        raise ConfigError(f"file: every sentence is longer than {limit}")
    return kept
