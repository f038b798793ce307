"""Getting a standard English corpus for the language models (``attn-fetch-text``): WikiText (Merity
et al. 2017, CC BY-SA 3.0) downloaded from its author's site — or read from a zip already on disk —
checked against the MD5 its release has long been known by (the original S3 archive's), and written
as the language models read text: one sentence per line, tokens separated by spaces, its own train /
dev / test files. Only the three named members are read from the archive (nothing is extracted);
the output folder appears whole or not at all."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import tempfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from attn_project.errors import ConfigError, DataError

SPLITS = {"train": "train", "dev": "valid", "test": "test"}  # our split: WikiText's member name


@dataclass(frozen=True)
class Corpus:
    url: str
    md5: str  # of the archive, as published with it
    folder: str  # the archive's folder holding wiki.{train,valid,test}.raw
    licence: str


CORPORA = {
    "wikitext-2": Corpus("https://wikitext.smerity.com/wikitext-2-raw-v1.zip",
                         "f407a2d53283fc4a49bcff21bc5f3770", "wikitext-2-raw", "CC BY-SA 3.0"),
    "wikitext-103": Corpus("https://wikitext.smerity.com/wikitext-103-raw-v1.zip",
                           "0ca3512bd7a238be4a63ce7b434f8935", "wikitext-103-raw", "CC BY-SA 3.0"),
}
MANIFEST = "SOURCE.json"
HEADING = re.compile(r"^\s*=( =)*\s.*\s=( =)*\s*$")  # " = Title = ", " = = Section = = "
JOINER = re.compile(r" @([-,.])@ ")  # WikiText's split number and hyphen marks: "1 @,@ 000" → "1,000"
ENDS = {".", "!", "?"}


def paragraph_sentences(line: str) -> Iterator[str]:
    """One WikiText paragraph → its sentences: a break after . ! ? where the next token begins a
    sentence (a capital or a quote); headings and blank lines give none."""
    if not line.strip() or HEADING.match(line):
        return
    tokens = JOINER.sub(r"\1", line).split()
    start = 0
    for k, token in enumerate(tokens):
        following = tokens[k + 1] if k + 1 < len(tokens) else ""
        if token in ENDS and (not following or following[0].isupper() or following[0] in "\"'"):
            yield " ".join(tokens[start:k + 1])
            start = k + 1
    if start < len(tokens):
        yield " ".join(tokens[start:])


def text_sentences_of(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        yield from paragraph_sentences(line)


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(url: str, to: Path) -> None:
    """``url`` (https, http or file) → the file ``to``, with a progress bar."""
    if urllib.parse.urlparse(url).scheme not in ("https", "http", "file"):
        raise ConfigError(f"--url {url}: give an https, http or file URL")
    with urllib.request.urlopen(url, timeout=120) as response, to.open("wb") as out:  # noqa: S310 (scheme checked)
        size = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=size, unit="B", unit_scale=True, desc=f"downloading {url}") as bar:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                out.write(chunk)
                bar.update(len(chunk))


def write_splits(archive: Path, corpus: Corpus, into: Path) -> dict[str, int]:
    """The archive's three members → ``into/{train,dev,test}.txt``; → sentences per split."""
    counts = {}
    try:
        with zipfile.ZipFile(archive) as zipped:
            for split, member in SPLITS.items():
                name = f"{corpus.folder}/wiki.{member}.raw"
                with zipped.open(name) as raw, (into / f"{split}.txt").open("w", encoding="utf-8") as out:
                    lines = (line.decode("utf-8") for line in raw)
                    counts[split] = 0
                    for sentence in tqdm(text_sentences_of(lines), desc=f"{split}.txt", unit=" sentences"):
                        out.write(sentence + "\n")
                        counts[split] += 1
    except KeyError as err:
        raise DataError(f"{archive}: not a {corpus.folder} archive ({err.args[0]})") from None
    except (zipfile.BadZipFile, UnicodeDecodeError) as err:
        raise DataError(f"{archive}: {err}") from None
    return counts


FETCHED = {"train.txt", "dev.txt", "test.txt", MANIFEST}  # what a fetch writes, and all it writes


def check_out_folder(out: Path) -> None:
    """``out`` may be new, empty, or an earlier fetch (exactly its four files, its manifest naming a
    corpus); never a user's folder, nor an earlier fetch someone added files to."""
    if not out.exists():
        return
    names = {p.name for p in out.iterdir()} if out.is_dir() else None
    if names == set():
        return
    if names != FETCHED or earlier_corpus(out / MANIFEST) not in CORPORA:
        raise DataError(f"--out {out}: exists and is not an earlier attn-fetch-text folder (its four files "
                        f"alone); name a new one")


def earlier_corpus(manifest: Path) -> str | None:
    try:
        corpus = json.loads(manifest.read_text(encoding="utf-8")).get("corpus")
    except (OSError, ValueError, AttributeError):
        return None
    return corpus if isinstance(corpus, str) else None


def replace_whole(out: Path, built: Path, aside: Path) -> None:
    """``built`` takes ``out``'s place; an earlier ``out`` is moved aside first and put back if the
    move of the new one fails (the caller removes ``aside`` afterwards)."""
    earlier = out.exists()
    if earlier:
        out.rename(aside)
    try:
        built.rename(out)
    except OSError:
        if earlier:
            aside.rename(out)
        raise


def fetch_text_corpus(name: str, out: Path, source: Path | None = None, url: str | None = None,
                      md5: str | None = None) -> dict[str, int]:
    """Download (or read ``source``), check the MD5, write ``out/{train,dev,test}.txt`` and SOURCE.json."""
    if name not in CORPORA:
        raise ConfigError(f"--corpus {name!r}: choose one of {sorted(CORPORA)}")
    corpus = CORPORA[name]
    check_out_folder(out)
    if source is not None and not source.is_file():
        raise DataError(f"--from {source}: no such file")
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        archive = source or work / "archive.zip"
        if source is None:
            download(url or corpus.url, archive)
        expected, seen = (md5 or corpus.md5).lower(), md5_of(archive)
        if seen != expected:
            raise DataError(f"{source or url or corpus.url}: MD5 {seen}, expected {expected} (a partial or "
                            f"different archive; --md5 names another mirror's)")
        built = work / "corpus"
        built.mkdir()
        counts = write_splits(archive, corpus, built)
        manifest = {"corpus": name, "url": None if source else (url or corpus.url),
                    "from": str(source) if source else None,
                    "md5": seen, "licence": corpus.licence, "sentences": counts}
        (built / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        replace_whole(out, built, work / "earlier")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return counts
