"""The import graph points down (docs/layout.md): commands → training, study → analysis, pretrained
→ viz → model, data → run → errors, with no package importing one above it and no circle between
packages."""

import ast
from collections import defaultdict
from pathlib import Path

from conftest import ROOT

# a package may import its own rank and below; analysis and pretrained read each other's parts
RANK = {"commands": 5, "training": 4, "study": 4, "analysis": 3, "pretrained": 3, "viz": 2, "model": 1,
        "data": 1, "run": 0, "errors": -1}


def imports(root: Path = ROOT) -> dict[str, set[str]]:
    """Package → the other packages its modules import (every import, inside functions too)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in (root / "attn_project").rglob("*.py"):
        parts = path.relative_to(root).with_suffix("").parts
        package = parts[1] if len(parts) > 2 else parts[-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.module] if isinstance(node, ast.ImportFrom) and node.module else
                     [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                if name.startswith("attn_project.") and name.split(".")[1] != package:
                    graph[package].add(name.split(".")[1])
    return graph


def test_every_package_has_a_rank():
    packages = {p.name.removesuffix(".py") for p in (ROOT / "attn_project").iterdir()
                if p.name != "__init__.py" and (p.suffix == ".py" or (p / "__init__.py").is_file())}
    assert packages == set(RANK), packages ^ set(RANK)


def upward(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    return sorted((a, b) for a, targets in graph.items() for b in targets if RANK[b] > RANK[a])


def test_imports_point_down():
    assert not upward(imports()), f"imports back up: {upward(imports())}"


def test_no_circle_between_packages_of_different_rank():
    graph = imports()
    circles = sorted((a, b) for a in graph for b in graph[a]
                     if a in graph.get(b, set()) and RANK[a] != RANK[b])
    assert not circles, circles


def test_the_check_sees_a_late_import_back_up(tmp_path):
    """A function's late import is the kind that hides an arrow back up: the walker reads it."""
    (tmp_path / "attn_project" / "model").mkdir(parents=True)
    (tmp_path / "attn_project" / "model" / "x.py").write_text(
        "def f():\n    from attn_project.commands.train import train\n")
    assert upward(imports(tmp_path)) == [("model", "commands")]
