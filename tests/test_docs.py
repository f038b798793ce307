"""Every relative link in the README and in docs/ resolves to a file in the repository, and every
anchor it names to a heading (or an explicit ``<a id>``) of that page (the README's commands:
``test_readme_commands``)."""

import json
import re

import pytest
from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "docs" / "studies" / "index.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    relative = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:|#", t)]
    missing = [t for t in relative if not (page.parent / t.split("#")[0]).exists()]
    assert not missing, f"{page.name}: {missing}"


def anchors(page) -> set[str]:
    """GitHub's anchors of a Markdown page's headings (lower case, punctuation dropped, spaces to
    hyphens), and its explicit ``<a id="…">``."""
    text = page.read_text(encoding="utf-8")
    text = re.sub(r"```.*?```", "", text, flags=re.DOTALL)  # no headings inside code
    headings = re.findall(r"(?m)^#+ (.+)$", text)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    return slugs | set(re.findall(r'<a id="([^"]+)"', text))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_anchor_resolves(page):
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+:", t) and "#" in t]
    broken = []
    for target in targets:
        path, anchor = target.split("#", 1)
        linked = page if not path else page.parent / path
        if linked.suffix == ".md" and linked.exists() and anchor not in anchors(linked):
            broken.append(target)
    assert not broken, f"{page.name}: {broken}"


def test_the_studies_index_lists_every_study_with_its_runs():
    studies = ROOT / "docs" / "studies"
    row = re.compile(r"(?m)^\| `([\w.-]+)` \| [^|]+ \| (\d+ \| \d+) \|")
    rows = {m.group(1): m.group(2) for m in row.finditer((studies / "index.md").read_text())}
    folders = sorted(p.name for p in studies.iterdir() if p.is_dir())
    assert sorted(rows) == folders
    for name in folders:
        if (studies / name / "study.json").exists():
            groups = json.loads((studies / name / "study.json").read_text())["groups"]
            assert rows[name] == f"{len(groups)} | {sum(g['n_runs'] for g in groups)}", name
    assert not list(studies.rglob("events.out.tfevents.*")), "TensorBoard files stay out of git"
