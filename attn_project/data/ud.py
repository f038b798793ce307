"""Getting a Universal Dependencies treebank: download its three files, or copy a local folder."""

from __future__ import annotations

import re
import shutil
import urllib.request
from pathlib import Path

from attn_project.data.files import atomic_write_text
from attn_project.errors import ConfigError, DataError

SPLITS = ("train", "dev", "test")
REPOS = {"en_ewt": "UD_English-EWT", "en_gum": "UD_English-GUM", "en_lines": "UD_English-LinES",
         "en_partut": "UD_English-ParTUT", "de_gsd": "UD_German-GSD", "fr_gsd": "UD_French-GSD"}
URL = "https://raw.githubusercontent.com/UniversalDependencies/{repo}/{tag}/{treebank}-ud-{split}.conllu"


SAFE_NAMES = {"treebank": re.compile(r"[a-z]{2,3}_[a-z0-9]+"), "repo": re.compile(r"UD_[A-Za-z0-9_-]+"),
              "tag": re.compile(r"[A-Za-z0-9._-]+")}


def check_name(kind: str, value: str) -> str:
    """A treebank, repository or tag name that cannot lead outside a folder or a URL path."""
    if not SAFE_NAMES[kind].fullmatch(value) or ".." in value:
        raise ConfigError(f"--{kind} {value!r}: not a valid {kind} name (e.g. en_ewt, UD_English-EWT, "
                          f"r2.14); path separators and '..' are refused")
    return value


def split_files(treebank: str) -> list[str]:
    check_name("treebank", treebank)
    return [f"{treebank}-ud-{split}.conllu" for split in SPLITS]


def copy_treebank(treebank: str, source: Path, out: Path) -> list[Path]:
    """Copy ``{treebank}-ud-{train,dev,test}.conllu`` from a local folder."""
    missing = [name for name in split_files(treebank) if not (source / name).is_file()]
    if missing:
        raise DataError(f"{source}: missing {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(source / name, out / name)) for name in split_files(treebank)]


def download_treebank(treebank: str, out: Path, tag: str = "r2.14", repo: str | None = None) -> list[Path]:
    """Download the three files from the treebank's public repository at release ``tag``."""
    repo = repo or REPOS.get(check_name("treebank", treebank))
    if repo is None:
        raise ConfigError(f"unknown treebank '{treebank}': pass --repo UD_Language-NAME")
    check_name("repo", repo)
    check_name("tag", tag)
    written = []
    for split in SPLITS:
        url = URL.format(repo=repo, tag=tag, treebank=treebank, split=split)
        print(f"downloading {url}")
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 (fixed https host)
            text = response.read().decode("utf-8")
        path = out / f"{treebank}-ud-{split}.conllu"
        atomic_write_text(path, text)
        written.append(path)
    return written
