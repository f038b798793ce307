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

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from attn_project.analysis.report_schema import RELATION_TABLES, RelationEntry, Report, ReportError, is_number
from attn_project.errors import DataError

PLUMBING = ("paths.", "hydra.", "ckpt_path", "seed")  # overrides that never make a setting
RECENT_S = 600  # a run without metrics.json whose log changed this recently may still be running


@dataclass
class Run:
    folder: Path
    overrides: dict[str, str]
    config: DictConfig | ListConfig  # the run's .hydra/config.yaml, unresolved
    metrics: dict[str, float]
    relations: dict[str, dict]  # relation → n, margin (after − best offset, to the head), verdict
    verdicts: list[dict] = field(default_factory=list)  # every relation × direction: n, margin, p, verdict
    curves: dict[str, dict[str, float]] = field(default_factory=dict)  # name → training step → value (LMs)

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
    files = read_run_files(folder, report_path)
    if isinstance(files, str):
        return files
    try:
        typed = Report.from_json(files.result)
    except ReportError as err:
        return f"broken report/attention_report.json: {err}"
    relations = {rel: {"n": r.n, "margin": r.margin, "best_head_margin": best_head_margin(r),
                       "beats_position": r.beats_position, "changed_by_training": r.changed_by_training}
                 for rel, r in typed.weights.per_relation.items() if r.margin is not None}
    return Run(folder, files.overrides, files.config, typed.study_metrics(), relations,
               relation_verdicts(typed))


@dataclass
class RunFiles:
    """A finished run's files, parsed and of the right shapes (the result file's content is the caller's)."""

    result: object  # the parsed JSON of the run's result file (report or lens over training)
    finished: dict[str, float]  # metrics.json
    config: DictConfig
    overrides: dict[str, str]  # key → value of .hydra/overrides.yaml


def read_run_files(folder: Path, result_path: Path) -> RunFiles | str:
    """``metrics.json``, the result file and the saved Hydra config and overrides, or why they
    cannot be read (never a traceback)."""
    try:
        result = json.loads(result_path.read_text(encoding="utf-8"))
        finished = json.loads((folder / "metrics.json").read_text(encoding="utf-8"))
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
        overrides = OmegaConf.load(folder / ".hydra" / "overrides.yaml")
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException) as err:
        return f"unreadable: {type(err).__name__}: {str(err)[:200]}"
    problem = broken_run_files(finished, config, overrides)
    if problem:
        return problem
    assert isinstance(config, DictConfig) and isinstance(finished, dict)  # broken_run_files checked them
    parsed = dict(str(o).lstrip("+~").split("=", 1) for o in overrides if "=" in str(o))
    return RunFiles(result, finished, config, parsed)


def relation_verdicts(report: Report) -> list[dict]:
    """One row per relation and direction of the run's weights: what ``verdicts.csv`` lists. Both
    verdicts; ``changed_by_training`` is "n/a" where the report says the test does not apply (fixed
    rows) and empty where it was not recorded (a report from before the verdicts were split)."""
    training = (report.analysis.training_verdict or "") if report.analysis else ""
    return [{"direction": f"to_{side}", "relation": rel, "n": r.n, "after": r.after.value,
             "best_head": r.best_head, "best_head_after": r.best_head_after.value,
             "best_head_weight": r.best_head_weight.value, "best_offset": r.best_offset,
             "best_offset_name": r.best_offset_name, "best_head_offset_weight": r.best_head_offset_weight,
             "best_head_margin": best_head_margin(r), "mean_head_margin": r.margin,
             "p_adjusted": r.p_adjusted, "beats_position": r.beats_position,
             "p_adjusted_training": r.p_adjusted_training,
             "changed_by_training": ("n/a" if training.startswith("not applicable")
                                     and r.beats_position is not None else r.changed_by_training)}
            for key, side in RELATION_TABLES.items() for rel, r in getattr(report.weights, key).items()]


def best_head_margin(entry: RelationEntry) -> float | None:
    """The best head's alignment minus the best offset's: the difference ``beats_position`` tests."""
    if entry.best_head_after.value is None or entry.best_offset is None:
        return None
    return entry.best_head_after.value - entry.best_offset


def written_by_eval(folder: Path) -> bool:
    """The folder's saved config is eval.py's (``task_name: eval``)."""
    try:
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException):
        return False  # read_run says why it cannot be read
    return isinstance(config, DictConfig) and config_value(config, "task_name") == "eval"


def broken_run_files(finished: object, config: object, overrides: object) -> str | None:
    """Why a run's other files cannot be what a finished run writes (the report: ``Report.from_json``),
    or None when their shapes fit."""
    if not isinstance(finished, dict) or not all(is_number(v) for v in finished.values()):
        return "broken metrics.json: not a JSON object of numbers"
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
