"""Many runs → groups by setting → mean and 95% confidence interval over seeds.

A run folder is one with ``.hydra/config.yaml``; it counts when it finished (``metrics.json``)
and wrote its report (``report/attention_report.json``); every other one is listed under
``skipped`` with the reason. Runs are grouped by their overrides other than ``seed`` (or by
the keys asked for); a group's key shows the overrides that differ between groups. The
interval is Student's t over the group's runs (none for a single run).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeGuard

import numpy as np
import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from scipy import stats

from attn_project.errors import DataError

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


def setting_of(run: Run, group_by: list[str] | None) -> dict[str, str]:
    if group_by:
        return {key: str(run.overrides.get(key, config_value(run.config, key))) for key in group_by}
    return {k: v for k, v in run.overrides.items() if not k.startswith(PLUMBING)}


def group_runs(runs: list[Run], group_by: list[str] | None = None) -> list[Group]:
    """Runs with the same setting in one group; the key keeps what differs between groups."""
    settings = [setting_of(run, group_by) for run in runs]
    keys = sorted({k for s in settings for k in s})
    varying = [k for k in keys if len({s.get(k) for s in settings}) > 1] if not group_by else group_by
    groups: dict[tuple, Group] = {}
    for run, setting in zip(runs, settings):
        key = {k: setting.get(k, "(default)") for k in varying}
        groups.setdefault(tuple(sorted(setting.items())), Group(key)).runs.append(run)
    return sorted(groups.values(), key=lambda g: [natural(g.key[k]) for k in sorted(g.key)])


def natural(value: str) -> tuple:
    """Sort numbers as numbers (250 before 1000), then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def mean_ci(measured: list[float | None], level: float = 0.95) -> dict:
    """Mean and the Student's t interval over runs (``ci95`` None with one run)."""
    values = [v for v in measured if v is not None and not math.isnan(v)]
    if not values:
        return {"mean": None, "ci95": None, "values": []}
    mean = float(np.mean(values))
    if len(values) < 2:
        return {"mean": mean, "ci95": None, "values": values}
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1) * stats.sem(values))
    return {"mean": mean, "ci95": [mean - half, mean + half], "values": values}


def summarise(group: Group) -> dict:
    group.runs.sort(key=lambda run: (str(run.seed), str(run.folder)))
    names = sorted({name for run in group.runs for name in run.metrics})
    relations = sorted({rel for run in group.runs for rel in run.relations})
    return {
        "key": group.key, "n_runs": len(group.runs), "seeds": [run.seed for run in group.runs],
        "runs": [str(run.folder) for run in group.runs],
        "metrics": {name: mean_ci([run.metrics.get(name) for run in group.runs]) for name in names},
        "relations": {rel: relation_summary(group.runs, rel) for rel in relations},
    }


def relation_summary(runs: list[Run], rel: str) -> dict:
    """Mean number of rows, and the margin over the best offset with its CI, of one relation."""
    present = [run.relations[rel] for run in runs if rel in run.relations]
    verdicts = [r["beats_position"] for r in present if r["beats_position"] is not None]
    return {"n": float(np.mean([r["n"] for r in present])), "margin": mean_ci([r["margin"] for r in present]),
            "beats_position_runs": sum(verdicts), "tested_runs": len(verdicts)}


def run_study(folders: list[Path], group_by: list[str] | None = None) -> dict:
    """study.json's content for the runs under ``folders``."""
    runs, skipped = [], []
    for folder in find_run_folders(folders):
        run = read_run(folder)
        if isinstance(run, Run):
            runs.append(run)
        else:
            skipped.append({"run": str(folder), "why": run})
    return {"groups": [summarise(g) for g in group_runs(runs, group_by)], "skipped": skipped}


# ── writing it out ───────────────────────────────────────────────────────────────────────
TABLE = [("test/acc", "test acc"), ("baseline/majority", "majority"),
         ("baseline/bag_of_neighbours", "bag of neighbours"), ("baseline/bigram", "ordered bigram"),
         ("test/balanced_acc", "balanced acc"), ("baseline/bag_of_neighbours_balanced", "bag balanced"),
         ("baseline/bigram_balanced", "bigram balanced"),
         ("entropy/before", "entropy before"), ("entropy/after", "entropy after"),
         ("dep_alignment/before", "alignment before"), ("dep_alignment/after", "alignment after"),
         ("best_offset", "best fixed offset"), ("alignment_margin", "margin over offset")]


def key_label(key: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items()) or "all runs"


def cell(summary: dict | None, digits: int = 3) -> str:
    """``0.861 ± 0.012`` (half-width of the 95% CI); the value alone with one run or when every run
    has the same value (a baseline fitted on the same data)."""
    if not summary or summary["mean"] is None:
        return "–"
    if summary["ci95"] is None or len(set(summary["values"])) == 1:
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {(summary['ci95'][1] - summary['ci95'][0]) / 2:.{digits}f}"


def study_markdown(study: dict) -> str:
    lines = ["| setting | runs (seeds) | " + " | ".join(label for _, label in TABLE) + " |",
             "|---|---|" + "---|" * len(TABLE)]
    for g in study["groups"]:
        lines.append(f"| {key_label(g['key'])} | {g['n_runs']} ({', '.join(map(str, g['seeds']))}) | "
                     + " | ".join(cell(g["metrics"].get(name)) for name, _ in TABLE) + " |")
    notes = ["", "Mean ± half-width of the 95% confidence interval (Student's t over runs with "
             "different seeds); a value without ± is the same in every run of its group.", "", COLUMNS]
    notes += [f"**Warning:** {warning}" for warning in few_seeds_warnings(study)]
    notes += [f"Skipped {s['run']}: {s['why']}" for s in study["skipped"]]
    return "\n".join(lines + notes) + "\n"


COLUMNS = ("Columns: *test acc* — accuracy on the test split; *majority*, *bag of neighbours*, "
           "*ordered bigram* — the task baselines fitted on the train split (README, Results); "
           "*balanced acc* — the mean recall over classes, of the model and of two baselines; "
           "*entropy* — mean entropy of a [MASK]'s attention row ÷ log T (0 = one word, 1 = uniform), "
           "before and after training; *alignment* — share of [MASK]s whose most-attended other word is "
           "their head or a dependent; *best fixed offset* — that share for the best always-look-at-"
           "offset-k rule; *margin over offset* — alignment after training minus the best offset's.")
MIN_SEEDS = 3


def few_seeds_warnings(study: dict) -> list[str]:
    """One line per group with fewer than MIN_SEEDS runs: its interval is wide or missing."""
    return [f"{key_label(g['key'])} has {g['n_runs']} run(s); a finding needs at least {MIN_SEEDS} "
            f"seeds (with 1 there is no interval, with 2 it is very wide)"
            for g in study["groups"] if g["n_runs"] < MIN_SEEDS]


def write_csv(study: dict, path: Path) -> None:
    names = sorted({n for g in study["groups"] for n in g["metrics"]})
    keys = sorted({k for g in study["groups"] for k in g["key"]})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        parts = [f"{n} {part}" for n in names for part in ("mean", "lo", "hi")]
        writer.writerow([*keys, "n_runs", "seeds", *parts])
        for g in study["groups"]:
            row = [g["key"].get(k, "") for k in keys] + [g["n_runs"], " ".join(map(str, g["seeds"]))]
            for n in names:
                m = g["metrics"].get(n) or {"mean": None, "ci95": None}
                row += [m["mean"], *(m["ci95"] or [None, None])]
            writer.writerow(row)


def write_study(study: dict, out: Path) -> dict[str, Path]:
    """study.json, study.csv, study.md, the figures as PNGs, and all of it in TensorBoard."""
    from attn_project.analysis import plots, study_plots

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "study.json", "csv": out / "study.csv", "md": out / "study.md"}
    paths["json"].write_text(json.dumps(study, indent=1), encoding="utf-8")
    write_csv(study, paths["csv"])
    paths["md"].write_text(study_markdown(study), encoding="utf-8")
    figures = study_plots.figures(study)
    for name, fig in figures.items():
        paths[name] = plots.save(fig, out / f"{name}.png")
    study_plots.to_tensorboard(out / "tensorboard", paths["md"].read_text(encoding="utf-8"), figures)
    return paths
