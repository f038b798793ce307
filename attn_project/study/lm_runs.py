"""Reading a language-model run for a study: its held-out scores (``metrics.json``) and its lens over
training (``lens/lens_over_training.json``) as one ``Run`` — flat metrics of the final checkpoint,
per-relation verdicts, and curves over the training steps — so the grouping, the intervals over
seeds and the findings' paired comparisons are the classifier study's own (``study.aggregate``,
``study.findings``).

Metric names (each a number per run): the run's ``metrics.json`` as written (``test/top1``,
``test/perplexity``, ``baseline/trigram_kn/acc``, …); ``lens/treebank_top1``, ``lens/mst_uas``,
``lens/chain_uas``, ``lens/mst_minus_chain``, ``lens/fastest_loss_drop_step``; per relation and
direction ``lens/<relation>/<direction>/<best_head_acc | offset_acc | category_acc |
margin_over_offset | margin_over_category | beats_position | beats_category | first_beats_position>``
(verdicts as 0/1; the first step only where a checkpoint beat position); per ablated relation
``ablation/<relation>/<best_head | random_head>`` (the accuracy drop on linked words minus on others).
"""

from __future__ import annotations

from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from attn_project.analysis.report_schema import is_number
from attn_project.study.runs import Run, config_value, read_run_files, why_unfinished

LENS = Path("lens") / "lens_over_training.json"
OBJECTIVES = ("mlm", "causal")
SCORES = ("best_head_acc", "offset_acc", "category_acc")
VERDICTS = ("beats_position", "beats_category")
SUMMARY = ("treebank_top1", "treebank_loss", "mst_uas", "chain_uas")
VERDICT_COLUMNS = ("step", "relation", "direction", "n", "best_head", "best_head_acc", "offset", "offset_acc",
                   "category_rule", "category_acc", "beats_position", "beats_category", "changed_by_training")


def is_language_model_run(folder: Path) -> bool:
    """The run's saved config is a language model's (``objective: mlm | causal``); an unreadable one
    is not (``read_run`` says why it cannot be read)."""
    try:
        config = OmegaConf.load(folder / ".hydra" / "config.yaml")
    except (OSError, ValueError, yaml.YAMLError, OmegaConfBaseException):
        return False
    return isinstance(config, DictConfig) and config_value(config, "objective") in OBJECTIVES


def read_lm_run(folder: Path) -> Run | str:
    """The run, or why it cannot count (unfinished, no lens yet, broken files): never a traceback."""
    metrics_path, lens_path = folder / "metrics.json", folder / LENS
    if not metrics_path.is_file():
        return why_unfinished(folder)
    if not lens_path.is_file():
        return f"no {LENS} (run: python scripts/lens_over_training.py run_dir={folder})"
    files = read_run_files(folder, lens_path)
    if isinstance(files, str):
        return files
    lens = files.result
    problem = broken_lens(lens)
    if problem:
        return problem
    assert isinstance(lens, dict)  # broken_lens checked it
    final = max(row["step"] for row in lens["checkpoints"])
    rows = [row for row in lens["relations"] if row["step"] == final]
    metrics = {**files.finished, **lens_metrics(lens, rows), **ablation_metrics(lens.get("ablation") or [])}
    relations = {relation_key(row): relation_entry(row) for row in rows
                 if row["best_head_acc"] is not None and row["offset_acc"] is not None}
    verdicts = [{c: row.get(c) for c in VERDICT_COLUMNS} for row in rows]
    return Run(folder, files.overrides, files.config, metrics, relations, verdicts, curves=curves_of(lens))


def broken_lens(lens: object) -> str | None:
    """Why the lens file cannot be what ``lens_over_training`` writes, or None."""
    if not isinstance(lens, dict) or not isinstance(lens.get("checkpoints"), list) or not lens["checkpoints"]:
        return f"broken {LENS}: no checkpoints"
    if not isinstance(lens.get("relations"), list) or not all(
            isinstance(r, dict) and {"step", "relation", "direction"} <= set(r) for r in lens["relations"]):
        return f"broken {LENS}: relations are not rows of step, relation, direction"
    if not all(isinstance(c, dict) and is_number(c.get("step")) for c in lens["checkpoints"]):
        return f"broken {LENS}: a checkpoint without a step"
    return None


def relation_key(row: dict) -> str:
    return f"{row['relation']} ({row['direction']})"


def relation_entry(row: dict) -> dict:
    """What ``study.aggregate.relation_summary`` reads: here the margin is the best head's."""
    margin = row["best_head_acc"] - row["offset_acc"]
    return {"n": row["n"], "margin": margin, "best_head_margin": margin,
            "beats_position": row["beats_position"], "beats_category": row.get("beats_category"),
            "changed_by_training": row.get("changed_by_training")}


def lens_metrics(lens: dict, rows: list[dict]) -> dict[str, float]:
    """The final checkpoint's numbers, flat."""
    last = max(lens["checkpoints"], key=lambda c: c["step"])
    out = {f"lens/{name}": float(last[name]) for name in SUMMARY if is_number(last.get(name))}
    if "lens/mst_uas" in out and "lens/chain_uas" in out:
        out["lens/mst_minus_chain"] = out["lens/mst_uas"] - out["lens/chain_uas"]
    emergence = lens.get("emergence") or {}
    if is_number(emergence.get("fastest_loss_drop_step")):
        out["lens/fastest_loss_drop_step"] = float(emergence["fastest_loss_drop_step"])
    first = emergence.get("first_beats_position") or {}
    for row in rows:
        prefix = f"lens/{row['relation']}/{row['direction']}"
        for name in SCORES:
            if is_number(row.get(name)):
                out[f"{prefix}/{name}"] = float(row[name])
        for name, other in (("margin_over_offset", "offset_acc"), ("margin_over_category", "category_acc")):
            if is_number(row.get("best_head_acc")) and is_number(row.get(other)):
                out[f"{prefix}/{name}"] = float(row["best_head_acc"] - row[other])
        for name in VERDICTS:
            if isinstance(row.get(name), bool):
                out[f"{prefix}/{name}"] = float(row[name])
        step = first.get(relation_key(row))
        if is_number(step):
            out[f"{prefix}/first_beats_position"] = float(step)
    return out


def ablation_metrics(ablation: list[dict]) -> dict[str, float]:
    """Per ablated relation: the drop on the words it links minus the drop on other words."""
    kinds = {"best head": "best_head", "random head of its layer": "random_head"}
    return {f"ablation/{row['relation']}/{kinds[row['ablated']]}": float(row["linked_minus_others"])
            for row in ablation if row.get("ablated") in kinds and is_number(row.get("linked_minus_others"))}


def curves_of(lens: dict) -> dict[str, dict[str, float]]:
    """Over the saved steps: each relation's best-head margin over its offset, and the treebank loss."""
    curves: dict[str, dict[str, float]] = {}
    for row in lens["relations"]:
        if is_number(row.get("best_head_acc")) and is_number(row.get("offset_acc")):
            margin = row["best_head_acc"] - row["offset_acc"]
            curves.setdefault(relation_key(row), {})[str(row["step"])] = margin
    curves["treebank_loss"] = {str(c["step"]): c["treebank_loss"] for c in lens["checkpoints"]
                               if is_number(c.get("treebank_loss"))}
    return curves
