"""Small file helpers: atomic writes (parallel sweep jobs never read half-written files), digests,
and a result computed once and cached in a file, under a lock parallel jobs share."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock

from attn_project.errors import DataError

log = logging.getLogger(__name__)


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """``write(tmp)`` to a temporary file beside ``path``, flush it to disk, rename it into place.

    The file gets the mode a plain ``open(path, "w")`` would (0666 less the umask), not
    mkstemp's 0600, so a shared data folder stays readable to those it was readable to.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o666 & ~current_umask())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) atomically: a reader sees the old file or the new one, never half."""
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def lock_beside(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` while inside; where the file system has no locks (some cluster
    mounts), go on without one and say so."""
    lock = FileLock(path.with_suffix(".lock"))
    try:
        lock.acquire()
    except (NotImplementedError, OSError) as err:
        log.warning("no lock beside %s (%s): parallel jobs may each compute it", path, err)
        yield
        return
    try:
        yield
    finally:
        lock.release()


def cached_file(path: Path, compute: Callable[[], dict], read: Callable[[Path], dict],
                write: Callable[[Path, dict], None]) -> dict:
    """``compute()``, or what an earlier call wrote to ``path``. Parallel sweep jobs on new data do
    not all compute: the first takes a lock beside the file and computes; the others wait for it and
    read what it wrote. An unreadable file is said in the log and computed again."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with lock_beside(path):
        if path.is_file():
            try:
                return read(path)
            except (OSError, ValueError, RuntimeError, KeyError):
                log.warning("ignoring unreadable cache %s", path)
        result = compute()
        write(path, result)
    return result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def write_json(path: Path, result: dict) -> None:
    atomic_write_text(path, json.dumps(result))


def utf8_lines(path: Path, max_bytes: int, error: type[DataError], what: str) -> Iterator[tuple[int, str]]:
    """(line number, text without its line ending) for every line of a UTF-8 file; a line over
    ``max_bytes`` is refused after reading that much of it (a file with no line breaks costs bounded
    memory), a NUL byte or a byte that is not UTF-8 too — each ``error`` naming the file, line and,
    in ``what``, what the file should hold."""
    with path.open("rb") as handle:
        for line_no in itertools.count(1):
            raw = handle.readline(max_bytes + 1)
            if not raw:
                return
            if len(raw) > max_bytes:
                raise error(f"{path}:{line_no}: line longer than {max_bytes:,} bytes; {what}")
            if b"\0" in raw:
                raise error(f"{path}:{line_no}: a NUL byte — a binary file; {what}")
            try:
                line = raw.decode("utf-8-sig" if line_no == 1 else "utf-8")
            except UnicodeDecodeError as err:
                raise error(f"{path}:{line_no}: not UTF-8 text (byte {raw[err.start]:#04x} at column "
                            f"{err.start + 1}); {what}") from err
            yield line_no, line.rstrip("\n").rstrip("\r")
