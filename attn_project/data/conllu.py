"""CoNLL-U → ``Sentence`` lists, with errors that name the file and the line.

Parsing is done by the ``conllu`` library, one sentence block at a time; this module adds the
checks a training run needs (column count, integer in-range heads, exactly one root, no cycles)
and keeps the line number of every sentence so that an error can point at it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import conllu

from attn_project.data.files import atomic_write_text, file_digest, utf8_lines
from attn_project.errors import DataError

log = logging.getLogger(__name__)
MAX_REPORTED = 5
MAX_LINE_BYTES = 64 * 1024  # a word line of UD's longest treebanks is under 1 kB
READER_VERSION = 2  # part of the parse cache key: bump when what the reader returns changes
ID_RANGE = re.compile(r"(\d+)-(\d+)")
ID_EMPTY = re.compile(r"(\d+)\.(\d+)")


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


class CoNLLUError(DataError):
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
    """Yield (first line number, [(line number, line), ...]) per blank-line separated block.

    The file is decoded line by line (UTF-8, a leading byte-order mark allowed), so a byte that
    is not UTF-8 is reported with its line.
    """
    block: list[tuple[int, str]] = []
    for line_no, line in decoded_lines(path):
        if line.strip():
            block.append((line_no, line))
        elif block:
            yield block[0][0], block
            block = []
    if block:
        yield block[0][0], block


def decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line of a UTF-8 CoNLL-U file (``files.utf8_lines``: a line over
    ``MAX_LINE_BYTES``, a NUL byte or a non-UTF-8 byte is a ``CoNLLUError`` naming the line)."""
    return utf8_lines(path, MAX_LINE_BYTES, CoNLLUError,
                      "CoNLL-U files are UTF-8 text, one word and its annotation a line")


def parse_block(path: Path, first_line: int, block: list[tuple[int, str]]) -> Sentence:
    """Check the columns, IDs, FORMs and heads of one block, then build the Sentence."""
    rows = [(ln, line.split("\t")) for ln, line in block if not line.startswith("#")]
    if not rows:
        raise CoNLLUError(f"{path}:{first_line}: comment lines with no word lines after them")
    for line_no, columns in rows:
        if len(columns) != 10:
            raise CoNLLUError(f"{path}:{line_no}: expected 10 tab-separated columns, found "
                              f"{len(columns)}")
        if columns[0].isdigit():
            check_word_columns(path, line_no, columns)
    check_ids(path, rows)
    try:
        tokenlist = conllu.parse("\n".join(line for _, line in block) + "\n\n")[0]
    except Exception as err:  # conllu raises ParseException and ValueError subclasses
        raise CoNLLUError(f"{path}:{first_line}: cannot parse sentence: {err}") from err
    words = [tok for tok in tokenlist if isinstance(tok["id"], int)]  # no ranges, no empty nodes
    word_lines = [ln for ln, columns in rows if columns[0].isdigit()]
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


def check_word_columns(path: Path, line_no: int, columns: list[str]) -> None:
    """A word's FORM is not empty (it may hold spaces: it stays one token); its HEAD is a number."""
    if not columns[1].strip():
        raise CoNLLUError(f"{path}:{line_no}: word {columns[0]} has an empty FORM")
    if not columns[6].isdigit():
        raise CoNLLUError(f"{path}:{line_no}: HEAD must be an integer, found {columns[6]!r}")


def check_ids(path: Path, rows: list[tuple[int, list[str]]]) -> None:
    """Word IDs run 1..n in order without gaps or repeats; a multiword range a-b starts at the
    next word and covers words that follow; empty nodes n.1, n.2, … follow word n."""
    expected, range_end, last_empty = 1, 0, (0, 0)  # next word ID; end of the last range; n.k
    range_line = 0
    for line_no, columns in rows:
        token_id, where = columns[0], f"{path}:{line_no}"
        if token_id.isdigit():
            word = int(token_id)
            if word != expected:
                raise CoNLLUError(f"{where}: {id_problem(word, expected)}")
            expected += 1
        elif match := ID_RANGE.fullmatch(token_id):
            first, last = int(match[1]), int(match[2])
            if first != expected or last <= first or range_end >= expected:
                raise CoNLLUError(f"{where}: multiword token {token_id} must start at the next word "
                                  f"({expected}), end after it, and not overlap another range")
            range_end, range_line = last, line_no
        elif match := ID_EMPTY.fullmatch(token_id):
            after, k = int(match[1]), int(match[2])
            want = last_empty[1] + 1 if last_empty[0] == after else 1
            if after != expected - 1 or k != want:
                raise CoNLLUError(f"{where}: empty node {token_id} out of place; after word "
                                  f"{expected - 1} the next empty node is {expected - 1}.{want}")
            last_empty = (after, k)
        else:
            raise CoNLLUError(f"{where}: ID {token_id!r} is not a word ID (1, 2, …), a multiword "
                              f"range (1-2) or an empty node (1.1)")
    if range_end >= expected:
        raise CoNLLUError(f"{path}:{range_line}: a multiword token covers words up to {range_end}, "
                          f"but the sentence ends at word {expected - 1}")


def id_problem(word: int, expected: int) -> str:
    if word == 0:
        return "ID 0: word IDs start at 1 (0 is only a HEAD, meaning the root)"
    if word < expected:
        return f"duplicate ID {word} (word IDs run 1, 2, 3, … once each, in order)"
    return f"ID {word} where {expected} was expected (word IDs run 1, 2, 3, … in order, without gaps)"


def check_head(path: Path, line_no: int, head: object, n_words: int) -> int:
    """``head`` as the conllu library parsed it (an int, or text it could not parse) → the checked head."""
    if not isinstance(head, int):
        raise CoNLLUError(f"{path}:{line_no}: HEAD must be an integer, found {head!r}")
    if not 0 <= head <= n_words:
        raise CoNLLUError(f"{path}:{line_no}: HEAD {head} is out of range (sentence has "
                          f"{n_words} words)")
    return head


def check_tree(path: Path, first_line: int, heads: list[int]) -> None:
    """Exactly one root (HEAD 0) and no cycles (1-based heads); linear in the sentence's length."""
    roots = heads.count(0)
    if roots != 1:
        raise CoNLLUError(f"{path}:{first_line}: sentence has {roots} roots (HEAD 0); "
                          f"a dependency tree has exactly one")
    reaches_root = [True] + [False] * len(heads)  # by 1-based word; 0 is the root
    for start in range(1, len(heads) + 1):
        walked: dict[int, None] = {}  # words walked from ``start``, not yet known to reach the root
        node = start
        while not reaches_root[node]:
            if node in walked:
                raise CoNLLUError(f"{path}:{first_line}: the heads form a cycle through word {node}")
            walked[node] = None
            node = heads[node - 1]
        for word in walked:
            reaches_root[word] = True


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
    """``read_conllu`` with a JSON cache keyed by the file's content and the reader's version.

    The ``conllu`` library needs seconds for a 200k-token treebank; the cache a fraction of one,
    and hashing the file (SHA-256) about 70 ms for EWT's 14 MB train file. A file edited in
    place (whatever its size and mtime) or a change to this reader gets a new entry; an old
    entry is never trusted. The cache is written atomically, so parallel sweep jobs can share it.
    """
    path = Path(path)
    if cache_dir is None or not path.is_file():
        return read_conllu(path, skip_invalid)
    key = hashlib.sha256(f"{READER_VERSION}|{skip_invalid}|{file_digest(path)}".encode()).hexdigest()
    cache = Path(cache_dir) / f"{path.stem}-{key[:20]}.json"
    if cache.is_file():
        try:
            return [Sentence(**row) for row in json.loads(cache.read_text(encoding="utf-8"))]
        except (ValueError, TypeError):
            log.warning("ignoring unreadable cache %s", cache)
    sentences = read_conllu(path, skip_invalid)
    atomic_write_text(cache, json.dumps([asdict(s) for s in sentences]))
    return sentences

