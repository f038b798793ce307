"""Reading run folders for a study: which runs count, their metrics (from each run's report)
and settings, and why the others are skipped.

A run folder is one with ``.hydra/config.yaml``; it counts when it finished (``metrics.json``)
and wrote its report (``report/attention_report.json``); every other one is listed under
``skipped`` with the reason.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from attn_project.run.errors import DataError

# study metric: where it is in attention_report.json
REPORT_METRICS = {
    "test/acc": ("test", "acc"), "test/f1": ("test", "f1"),
    "test/balanced_acc": ("test", "balanced_acc"), "test/macro_f1": ("test", "macro_f1"),
    "test/majority_share": ("test", "majority_share"),
    "baseline/majority_balanced": ("baselines", "majority", "balanced_acc"),
    "baseline/bag_of_neighbours_balanced": ("baselines", "bag_of_neighbours", "balanced_acc"),
    "baseline/bigram_balanced": ("baselines", "bigram", "balanced_acc"),
    "baseline/majority": ("baselines", "majority", "acc"),
    "baseline/bag_of_neighbours": ("baselines", "bag_of_neighbours", "acc"),
    "baseline/bigram": ("baselines", "bigram", "acc"),
    "baseline/bigram_pieces_balanced": ("baselines", "bigram_pieces", "balanced_acc"),
    "baseline/bag_of_pieces_balanced": ("baselines", "bag_of_pieces", "balanced_acc"),
    "entropy/before": ("before", "entropy"), "entropy/after": ("after", "entropy"),
    "dep_alignment/before": ("before", "dep_alignment"), "dep_alignment/after": ("after", "dep_alignment"),
    "dep_mass/before": ("before", "dep_mass"), "dep_mass/after": ("after", "dep_mass"),
    "self_share/before": ("before", "self_share"), "self_share/after": ("after", "self_share"),
    "best_offset": ("best_offset", "dep_alignment"),
    "alignment_margin": ("alignment_margin", "mean"), "entropy_change": ("entropy_change", "mean"),
    "effective/entropy": ("effective", "after", "entropy"),
    "effective/dep_alignment": ("effective", "after", "dep_alignment"),
    "effective/alignment_margin": ("effective", "alignment_margin", "mean"),
}
INTERVENTIONS = ("uniform", "best_offset", "gold_head", "gold_neighbourhood", "self", "untrained")
REPORT_METRICS |= {f"intervention/{rule}/{value}": ("interventions", rule, value)
                   for rule in INTERVENTIONS for value in ("acc", "delta")}
PLUMBING = ("paths.", "hydra.", "ckpt_path", "seed")  # overrides that never make a setting
RECENT_S = 600  # a run without metrics.json whose log changed this recently may still be running


@dataclass
class Run:
    folder: Path
    overrides: dict[str, str]
    config: DictConfig | ListConfig  # the run's .hydra/config.yaml, unresolved
    metrics: dict[str, float]
    relations: dict[str, dict]  # relation → n, margin (after − best offset, to the head), verdict

    @property
    def seed(self) -> object:
        return config_value(self.config, "seed")


def config_value(config: DictConfig | ListConfig, key: str) -> object:
    """``key`` of a saved run config; None where it is missing or does not resolve (an edited
    file's interpolation), never an error."""
    return OmegaConf.select(config, key, throw_on_resolution_failure=False)


@dataclass
class Group:
    key: dict[str, str]
    runs: list[Run] = field(default_factory=list)


def find_run_folders(folders: list[Path]) -> list[Path]:
    """Every folder under ``folders`` that holds a Hydra run (``.hydra/config.yaml``)."""
    found = []
    for folder in folders:
        if not folder.is_dir():
            raise DataError(f"{folder}: no such folder (give run or sweep folders, e.g. logs/multiruns/…)")
        found += [p.parent.parent for p in folder.rglob(".hydra/config.yaml")]
    if not found:
        raise DataError(f"{', '.join(map(str, folders))}: no runs found (no .hydra/config.yaml below); "
                        f"give the folder a sweep or run wrote, e.g. logs/multiruns/<experiment>/<date>")
    return sorted(set(found))


def pick(report: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def read_run(folder: Path) -> Run | str:
    """The run, or why it cannot count: a half-written, edited or broken folder is a reason,
    never a traceback."""
    report_path, metrics_path = folder / "report" / "attention_report.json", folder / "metrics.json"
    if written_by_eval(folder):
        return "an eval.py result (<run>/eval/…), not a training run"
    if not metrics_path.is_file():
        return why_unfinished(folder)
    if not report_path.is_file():
        return "finished without a report (callbacks.attention_report was off)"
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        finished = json.loads(metrics_path.read_text(encoding="utf-8"))
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
        overrides = OmegaConf.load(folder / ".hydra" / "overrides.yaml")
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException) as err:
        return f"unreadable: {type(err).__name__}: {str(err)[:200]}"
    problem = broken_run_files(report, finished, config, overrides)
    if problem:
        return problem
    picked = {name: pick(report, path) for name, path in REPORT_METRICS.items()}
    metrics = {k: float(v) for k, v in picked.items() if is_number(v)}
    relations = {rel: {"n": r["n"], "margin": r["after"] - r["best_offset"],
                       "beats_position": r.get("beats_position")}
                 for rel, r in (report.get("per_relation") or {}).items()
                 if is_number(r.get("after")) and is_number(r.get("best_offset"))}
    parsed = dict(str(o).lstrip("+~").split("=", 1) for o in overrides if "=" in str(o))
    return Run(folder, parsed, config, metrics, relations)


def written_by_eval(folder: Path) -> bool:
    """The folder's saved config is eval.py's (``task_name: eval``)."""
    try:
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException):
        return False  # read_run says why it cannot be read
    return isinstance(config, DictConfig) and config_value(config, "task_name") == "eval"


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def broken_run_files(report: object, finished: object, config: object, overrides: object) -> str | None:
    """Why a run's files cannot be what a finished run writes, or None when their shapes fit."""
    if not isinstance(finished, dict) or not all(is_number(v) for v in finished.values()):
        return "broken metrics.json: not a JSON object of numbers"
    if not isinstance(report, dict):
        return "broken report/attention_report.json: not a JSON object"
    if not all(isinstance(pick(report, path), int | float | type(None)) for path in REPORT_METRICS.values()):
        return "broken report/attention_report.json: a metric is not a number"
    relations = report.get("per_relation") or {}
    if not isinstance(relations, dict) or not all(
            isinstance(r, dict) and is_number(r.get("n")) and isinstance(r.get("beats_position"), bool | None)
            for r in relations.values()):
        return "broken report/attention_report.json: per_relation entries lack n or a verdict"
    if not isinstance(config, DictConfig):
        return "broken .hydra/config.yaml: not a mapping of settings"
    if not isinstance(overrides, ListConfig) or not all(isinstance(o, str) for o in overrides):
        return "broken .hydra/overrides.yaml: not a list of overrides"
    return None


def why_unfinished(folder: Path) -> str:
    reason = folder / "failed.txt"  # written by train.py when a run stops with an error
    if reason.is_file():
        return "failed: " + reason.read_text(encoding="utf-8", errors="replace").strip()[:200]
    log = folder / "train.log"
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    failed = [line for line in text.splitlines() if "failed:" in line or "Error" in line]
    if failed:
        return "failed: " + failed[-1].split("failed:", 1)[-1].strip()[:200]
    if log.is_file() and time.time() - log.stat().st_mtime < RECENT_S:
        return "no metrics.json yet: still running?"
    return "no metrics.json: the run failed or was stopped"
