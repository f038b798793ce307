"""CoNLL-U → ``Sentence`` lists, with errors that name the file and the line.

Parsing is done by the ``conllu`` library, one sentence block at a time; this module adds the
checks a training run needs (column count, integer in-range heads, exactly one root, no cycles)
and keeps the line number of every sentence so that an error can point at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import conllu

from attn_project.data.files import atomic_write_text

log = logging.getLogger(__name__)
MAX_REPORTED = 5


@dataclass
class Sentence:
    """One sentence with gold syntax; ``heads`` are 0-based token indices, root = -1."""

    tokens: list[str]
    upos: list[str]
    heads: list[int]
    deprels: list[str]
    source: str = ""  # "file:line" of the sentence's first line
    sent_id: str = field(default="", compare=False)

    def __len__(self) -> int:
        return len(self.tokens)


class CoNLLUError(ValueError):
    """A problem in a CoNLL-U file; the message starts with ``file:line``."""


def read_conllu(path: str | Path, skip_invalid: bool = False) -> list[Sentence]:
    """All valid sentences of ``path``; invalid ones raise, or are skipped (and reported) when asked."""
    path = Path(path)
    if not path.is_file():
        raise CoNLLUError(f"{path}: file not found (expected a CoNLL-U file)")
    sentences, errors = [], []
    for line_no, block in sentence_blocks(path):
        try:
            sentences.append(parse_block(path, line_no, block))
        except CoNLLUError as err:
            errors.append(str(err))
    if not sentences and not errors:
        raise CoNLLUError(f"{path}:1: the file holds no sentences (is it empty?)")
    if errors:
        summary = (f"{path}: {len(errors)} invalid sentence(s); first ones:\n  "
                   + "\n  ".join(errors[:MAX_REPORTED]))
        if not skip_invalid:
            raise CoNLLUError(summary + "\nFix the file, or set data.skip_invalid=true to skip them.")
        log.warning("%s\nSkipped (data.skip_invalid=true).", summary)
    return sentences


def sentence_blocks(path: Path) -> Iterator[tuple[int, list[tuple[int, str]]]]:
    """Yield (first line number, [(line number, line), ...]) per blank-line separated block."""
    block: list[tuple[int, str]] = []
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            line = line.rstrip("\n").rstrip("\r")
            if line.strip():
                block.append((line_no, line))
            elif block:
                yield block[0][0], block
                block = []
    if block:
        yield block[0][0], block


def parse_block(path: Path, first_line: int, block: list[tuple[int, str]]) -> Sentence:
    """Check the columns and heads of one block, then build the Sentence."""
    for line_no, line in block:
        if line.startswith("#"):
            continue
        columns = line.split("\t")
        if len(columns) != 10:
            raise CoNLLUError(f"{path}:{line_no}: expected 10 tab-separated columns, found "
                              f"{len(columns)}")
        if columns[0].isdigit() and not columns[6].isdigit():
            raise CoNLLUError(f"{path}:{line_no}: HEAD must be an integer, found {columns[6]!r}")
    try:
        tokenlist = conllu.parse("\n".join(line for _, line in block) + "\n\n")[0]
    except Exception as err:  # conllu raises ParseException and ValueError subclasses
        raise CoNLLUError(f"{path}:{first_line}: cannot parse sentence: {err}") from err
    words = [tok for tok in tokenlist if isinstance(tok["id"], int)]  # no ranges, no empty nodes
    word_lines = [ln for ln, line in block
                  if not line.startswith("#") and line.split("\t")[0].isdigit()]
    heads = [check_head(path, ln, tok["head"], len(words)) for ln, tok in zip(word_lines, words)]
    check_tree(path, first_line, heads)
    return Sentence(
        tokens=[tok["form"] for tok in words],
        upos=[tok["upos"] for tok in words],
        heads=[h - 1 for h in heads],
        deprels=[tok["deprel"] for tok in words],
        source=f"{path}:{first_line}",
        sent_id=tokenlist.metadata.get("sent_id", ""),
    )


def check_head(path: Path, line_no: int, head, n_words: int) -> int:
    if not isinstance(head, int):
        raise CoNLLUError(f"{path}:{line_no}: HEAD must be an integer, found {head!r}")
    if not 0 <= head <= n_words:
        raise CoNLLUError(f"{path}:{line_no}: HEAD {head} is out of range (sentence has "
                          f"{n_words} words)")
    return head


def check_tree(path: Path, first_line: int, heads: list[int]) -> None:
    """Exactly one root (HEAD 0) and no cycles (1-based heads)."""
    roots = heads.count(0)
    if roots != 1:
        raise CoNLLUError(f"{path}:{first_line}: sentence has {roots} roots (HEAD 0); "
                          f"a dependency tree has exactly one")
    for start in range(1, len(heads) + 1):
        seen, node = set(), start
        while node != 0:
            if node in seen:
                raise CoNLLUError(f"{path}:{first_line}: the heads form a cycle through word {node}")
            seen.add(node)
            node = heads[node - 1]


def write_conllu(sentences: list[Sentence], prefix: str) -> str:
    """CoNLL-U text for ``sentences`` (lemma/xpos/feats/deps/misc left as '_')."""
    parts = []
    for n, sent in enumerate(sentences, start=1):
        lines = [f"# sent_id = {prefix}-{n}", f"# text = {' '.join(sent.tokens)}"]
        for i, (form, upos, head, rel) in enumerate(
                zip(sent.tokens, sent.upos, sent.heads, sent.deprels), start=1):
            lines.append(f"{i}\t{form}\t_\t{upos}\t_\t_\t{head + 1}\t{rel}\t_\t_")
        parts.append("\n".join(lines) + "\n")
    return "\n".join(parts) + "\n"


def read_conllu_cached(path: str | Path, cache_dir: str | Path | None,
                       skip_invalid: bool = False) -> list[Sentence]:
    """``read_conllu`` with a JSON cache keyed by the file's path, size and mtime.

    The ``conllu`` library needs seconds for a 200k-token treebank; the cache needs a fraction.
    The cache is written atomically, so parallel sweep jobs can share it.
    """
    path = Path(path)
    if cache_dir is None or not path.is_file():
        return read_conllu(path, skip_invalid)
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{skip_invalid}"
                       .encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"{path.stem}-{key}.json"
    if cache.is_file():
        try:
            return [Sentence(**row) for row in json.loads(cache.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            log.warning("ignoring unreadable cache %s", cache)
    sentences = read_conllu(path, skip_invalid)
    atomic_write_text(cache, json.dumps([asdict(s) for s in sentences]))
    return sentences
