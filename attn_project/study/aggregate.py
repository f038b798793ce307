"""Many runs → groups by setting → mean and 95% confidence interval over seeds.

Runs are grouped by their overrides other than ``seed`` (or by the keys asked for); a group's
key shows the overrides that differ between groups. The interval is Student's t over the group's
runs (none for a single run).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from scipy import stats

from attn_project.analysis.report_schema import Estimate
from attn_project.errors import DataError
from attn_project.model.config import ModelConfig
from attn_project.study.lm_runs import is_language_model_run, read_lm_run
from attn_project.study.runs import PLUMBING, Group, Run, config_value, find_run_folders, read_run


def setting_of(run: Run, group_by: list[str] | None) -> dict[str, str]:
    if group_by:
        return {key: str(run.overrides.get(key, value_or_default(run, key))) for key in group_by}
    return {k: v for k, v in run.overrides.items() if not k.startswith(PLUMBING)}


def value_or_default(run: Run, key: str) -> object:
    """``key`` of the run's config; a model setting the config lacks (the run was written before
    the setting existed, e.g. ``model.num_layers``) counts as its default, which is what that
    run's code did."""
    value = config_value(run.config, key)
    if value is None and key.startswith("model."):
        defaults = {f.name: f.default for f in dataclasses.fields(ModelConfig)}
        return defaults.get(key.removeprefix("model."), None)
    return value


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


def estimate(summary: dict | None) -> Estimate:
    """A ``mean_ci`` summary of study.json as an Estimate (no value where it has none)."""
    if not summary:
        return Estimate(None)
    ci = summary.get("ci95")
    return Estimate(summary.get("mean"), None if ci is None else (ci[0], ci[1]))


def summarise(group: Group) -> dict:
    group.runs.sort(key=lambda run: (natural(str(run.seed)), str(run.folder)))
    names = sorted({name for run in group.runs for name in run.metrics})
    relations = sorted({rel for run in group.runs for rel in run.relations})
    return {
        "key": group.key, "n_runs": len(group.runs), "seeds": [run.seed for run in group.runs],
        "runs": [str(run.folder) for run in group.runs],
        "metrics": {name: mean_ci([run.metrics.get(name) for run in group.runs])
                    | {"by_seed": by_seed(group.runs, name)} for name in names},
        "relations": {rel: relation_summary(group.runs, rel) for rel in relations},
        **({"curves": curves_summary(group.runs)} if any(run.curves for run in group.runs) else {}),
    }


def curves_summary(runs: list[Run]) -> dict[str, dict[str, dict]]:
    """name → training step → mean and interval over the runs that saved that step."""
    names = sorted({name for run in runs for name in run.curves})
    out = {}
    for name in names:
        steps = sorted({s for run in runs for s in run.curves.get(name, {})}, key=int)
        out[name] = {s: mean_ci([run.curves.get(name, {}).get(s) for run in runs]) for s in steps}
    return out


def by_seed(runs: list[Run], name: str) -> dict[str, float]:
    """seed → the run's value (what paired comparisons over seeds read; ``study.findings``)."""
    return {str(run.seed): run.metrics[name] for run in runs if name in run.metrics}


def relation_summary(runs: list[Run], rel: str) -> dict:
    """Mean number of rows, the margins over the best offset (head-averaged; the dev-chosen best
    head's, what the verdict tests) with their CIs, and in how many runs each verdict held."""
    present = [run.relations[rel] for run in runs if rel in run.relations]
    verdicts = [r["beats_position"] for r in present if r["beats_position"] is not None]
    changed = [r.get("changed_by_training") for r in present if r.get("changed_by_training") is not None]
    best = [r.get("best_head_margin") for r in present if r.get("best_head_margin") is not None]
    category = [r["beats_category"] for r in present if r.get("beats_category") is not None]
    return {"n": float(np.mean([r["n"] for r in present])), "margin": mean_ci([r["margin"] for r in present]),
            "best_head_margin": mean_ci(best) if best else None,
            "beats_position_runs": sum(verdicts), "tested_runs": len(verdicts),
            "changed_by_training_runs": sum(changed), "training_tested_runs": len(changed),
            **({"beats_category_runs": sum(category), "category_tested_runs": len(category)}
               if category else {})}


def run_study(folders: list[Path], group_by: list[str] | None = None) -> dict:
    """study.json's content for the runs under ``folders``."""
    runs, skipped, kinds = [], [], set()
    for folder in find_run_folders(folders):
        language_model = is_language_model_run(folder)
        run = read_lm_run(folder) if language_model else read_run(folder)
        if isinstance(run, Run):
            runs.append(run)
            kinds.add(LANGUAGE_MODEL if language_model else CLASSIFIER)
        else:
            skipped.append({"run": str(folder), "why": run})
    if len(kinds) > 1:
        raise DataError(f"{', '.join(map(str, folders))}: language-model and classifier runs mixed; "
                        f"study each kind on its own (their metrics differ)")
    groups = group_runs(runs, group_by)
    verdicts = [{"setting": key_text(g.key), "seed": run.seed, "verdicts": run.verdicts}
                for g in groups for run in g.runs]
    return {"kind": kinds.pop() if kinds else CLASSIFIER, "groups": [summarise(g) for g in groups],
            "skipped": skipped, RUN_VERDICTS: verdicts}


CLASSIFIER, LANGUAGE_MODEL = "classifier", "language_model"  # study.json's kind: which table and figures


RUN_VERDICTS = "run_verdicts"  # per run: every relation's verdict (written to verdicts.csv, not study.json)


def key_text(key: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in key.items()) or "all runs"
