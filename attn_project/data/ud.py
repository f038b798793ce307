"""Getting a Universal Dependencies treebank: download its three files, or copy a local folder."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from attn_project.data.files import atomic_write_text

SPLITS = ("train", "dev", "test")
REPOS = {"en_ewt": "UD_English-EWT", "en_gum": "UD_English-GUM", "en_lines": "UD_English-LinES",
         "en_partut": "UD_English-ParTUT", "de_gsd": "UD_German-GSD", "fr_gsd": "UD_French-GSD"}
URL = "https://raw.githubusercontent.com/UniversalDependencies/{repo}/{tag}/{treebank}-ud-{split}.conllu"


def split_files(treebank: str) -> list[str]:
    return [f"{treebank}-ud-{split}.conllu" for split in SPLITS]


def copy_treebank(treebank: str, source: Path, out: Path) -> list[Path]:
    """Copy ``{treebank}-ud-{train,dev,test}.conllu`` from a local folder."""
    missing = [name for name in split_files(treebank) if not (source / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{source}: missing {', '.join(missing)}")
    out.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(source / name, out / name)) for name in split_files(treebank)]


def download_treebank(treebank: str, out: Path, tag: str = "r2.14", repo: str | None = None) -> list[Path]:
    """Download the three files from the treebank's public repository at release ``tag``."""
    repo = repo or REPOS.get(treebank)
    if repo is None:
        raise ValueError(f"unknown treebank '{treebank}': pass --repo UD_Language-NAME")
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
