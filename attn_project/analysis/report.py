"""The before/after report: JSON for tools, Markdown for people, PNGs for eyes."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from attn_project.analysis import plots
from attn_project.analysis.baselines import cached_task_baselines
from attn_project.analysis.mask_maps import analyse_split, mask_map, offset_baselines, sentence_ids

MIN_ROWS = 20  # relations with fewer rows are kept in the JSON but left out of the tables


def clean(value):
    """JSON-safe: NaN → None, recursively."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def compact(summary: dict) -> dict:
    keys = ("entropy", "dep_alignment", "dep_mass", "per_head", "rows")
    return {k: summary[k] for k in keys if k in summary}


def relation_table(before: dict, after: dict, offsets: dict, direction: str) -> dict:
    """Per relation: alignment before, after, and the best fixed offset (as Clark et al.)."""
    table = {}
    for rel, entry in after[direction].items():
        offset_rates = {o: s[direction][rel]["mean"] for o, s in offsets.items()
                        if rel in s[direction]}
        best = max(offset_rates, key=offset_rates.get) if offset_rates else None
        table[rel] = {
            "before": before[direction].get(rel, {}).get("mean"),
            "after": entry["mean"],
            "best_offset": offset_rates.get(best),
            "best_offset_name": best,
            "after_per_head": entry["per_head"],
            "best_head": entry["best_head"],
            "n": entry["n"],
        }
    return table


def build_report(test: dict, baselines: dict, before: dict, after: dict, offsets: dict,
                 run: dict) -> dict:
    """Assemble the report dict (keys as in DESIGN.md section 4)."""
    offset_overall = {o: {"dep_alignment": s["dep_alignment"]} for o, s in offsets.items()}
    best_offset = max(offset_overall, key=lambda o: offset_overall[o]["dep_alignment"])
    return clean({
        "run": run,
        "test": test,
        "baselines": baselines,
        "before": compact(before),
        "after": compact(after),
        "offset_baselines": offset_overall,
        "best_offset": {"offset": best_offset, **offset_overall[best_offset]},
        "per_relation": relation_table(before, after, offsets, "to_head"),
        "per_relation_to_dependent": relation_table(before, after, offsets, "to_dependent"),
    })


def fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(report: dict) -> str:
    run, test, base = report["run"], report["test"], report["baselines"]
    before, after, best = report["before"], report["after"], report["best_offset"]
    lines = [
        f"# Attention report — {run.get('experiment', '')}",
        "",
        f"Model: {run.get('num_heads')} head(s), d_model={run.get('d_model')}, init="
        f"`{run.get('init')}` (\"before\" = this initialisation, untrained). Corpus: "
        f"{run.get('corpus')}; analysis on the whole test split ({after.get('rows')} masked "
        f"positions).",
        "",
        "## Accuracy (test split)",
        "",
        "| classifier | majority | bag of neighbours | ordered bigram |",
        "|---|---|---|---|",
        f"| {fmt(test.get('acc'))} (F1 {fmt(test.get('f1'))}) | {fmt(base['majority']['acc'])} | "
        f"{fmt(base['bag_of_neighbours']['acc'])} | {fmt(base['bigram']['acc'])} |",
        "",
        "## Attention of the [MASK] (mask map rows), before vs after training",
        "",
        "| | entropy / log T | dependency alignment | dependency mass |",
        "|---|---|---|---|",
        f"| before | {fmt(before['entropy'])} | {fmt(before['dep_alignment'])} | {fmt(before['dep_mass'])} |",
        f"| after | {fmt(after['entropy'])} | {fmt(after['dep_alignment'])} | {fmt(after['dep_mass'])} |",
        f"| best fixed offset ({best['offset']}) | – | {fmt(best['dep_alignment'])} | – |",
        "",
        "Fixed offsets: " + ", ".join(f"{o}: {fmt(v['dep_alignment'])}"
                                      for o, v in report["offset_baselines"].items()),
        "",
        verdict(report),
        "",
    ]
    heads = len(after["per_head"]["entropy"])
    if heads > 1:
        lines += ["## Per head (after training)", "", "| head | entropy | alignment | mass |",
                  "|---|---|---|---|"]
        ph = after["per_head"]
        lines += [f"| {h} | {fmt(ph['entropy'][h])} | {fmt(ph['dep_alignment'][h])} | "
                  f"{fmt(ph['dep_mass'][h])} |" for h in range(heads)]
        lines.append("")
    for key, title in (("per_relation", "the [MASK] attends to its head"),
                       ("per_relation_to_dependent", "the [MASK] attends to a dependent")):
        lines += [f"## Per relation: {title}", "",
                  "| relation | n | before | after | best offset | beats position? |"
                  + (" best head |" if heads > 1 else ""),
                  "|---|---|---|---|---|---|" + ("---|" if heads > 1 else "")]
        rows = sorted(report[key].items(), key=lambda kv: -kv[1]["n"])
        for rel, r in rows:
            if r["n"] < MIN_ROWS:
                continue
            beats = "yes" if (r["after"] or 0) > (r["best_offset"] or 0) else "no"
            lines.append(f"| {rel} | {r['n']} | {fmt(r['before'])} | {fmt(r['after'])} | "
                         f"{fmt(r['best_offset'])} ({r['best_offset_name']}) | {beats} |"
                         + (f" {r['best_head']} |" if heads > 1 else ""))
        lines.append("")
    return "\n".join(lines)


def verdict(report: dict) -> str:
    """Plain words for what the numbers say (no spin either way)."""
    before, after, best = report["before"], report["after"], report["best_offset"]
    sharper = (after["entropy"] or 0) < (before["entropy"] or 0)
    beats = [rel for rel, r in report["per_relation"].items()
             if r["n"] >= MIN_ROWS and (r["after"] or 0) > (r["best_offset"] or 0)]
    words = [f"Training made attention {'sharper' if sharper else 'smoother'} "
             f"(entropy {fmt(before['entropy'])} → {fmt(after['entropy'])})."]
    if (after["dep_alignment"] or 0) > best["dep_alignment"]:
        words.append(f"Overall alignment with syntax ({fmt(after['dep_alignment'])}) beats the best "
                     f"fixed offset ({best['offset']}: {fmt(best['dep_alignment'])}).")
    else:
        words.append(f"Overall alignment with syntax ({fmt(after['dep_alignment'])}) does not beat "
                     f"the best fixed offset ({best['offset']}: {fmt(best['dep_alignment'])}): "
                     f"overall, it tracks position at least as much as syntax.")
    words.append("Relations (to head) where attention beats the best offset: "
                 + (", ".join(sorted(beats)) if beats else "none") + ".")
    return " ".join(words)


def entropy_histogram(before: np.ndarray, after: np.ndarray):
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(7, 4)
    bins = np.linspace(0, 1, 41)
    axes[0].hist(before, bins=bins, alpha=0.6, label="before training")
    axes[0].hist(after, bins=bins, alpha=0.6, label="after training")
    axes[0].set_xlabel("normalised entropy of the [MASK]'s attention (0 = one token, 1 = uniform)")
    axes[0].set_ylabel("masked positions")
    axes[0].set_title("How spread out is attention? (test split)")
    axes[0].legend()
    return fig


def relation_bars(report: dict, key: str = "per_relation", top: int = 14):
    rows = [(rel, r) for rel, r in report[key].items() if r["n"] >= MIN_ROWS]
    rows = sorted(rows, key=lambda kv: -kv[1]["n"])[:top]
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(max(7, 0.8 * len(rows) + 2), 4.5)
    ax = axes[0]
    x = np.arange(len(rows))
    for k, (label, field) in enumerate((("before", "before"), ("after", "after"),
                                        ("best fixed offset", "best_offset"))):
        ax.bar(x + (k - 1) * 0.27, [r[field] or 0 for _, r in rows], width=0.27, label=label)
    ax.set_xticks(x, [rel for rel, _ in rows], rotation=45, ha="right")
    ax.set_ylabel("share of [MASK]s whose top other token is the head")
    ax.set_ylim(0, 1)
    ax.set_title("Dependency alignment per relation (the [MASK] is the dependent)")
    ax.legend()
    return fig


def write_report(folder: Path, report: dict, figures: dict) -> dict[str, Path]:
    """Write attention_report.json, attention_report.md and the PNGs; return their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "attention_report.json", "md": folder / "attention_report.md"}
    paths["json"].write_text(json.dumps(report, indent=2))
    paths["md"].write_text(markdown(report))
    for name, fig in figures.items():
        paths[name] = plots.save(fig, folder / f"{name}.png")
    return paths


# ── assembling the report of one run ─────────────────────────────────────────────────────
SNAPSHOT_TYPES = {"summary": dict, "entropies": torch.Tensor, "samples": list, "baselines": dict,
                  "offsets": dict, "seconds": float}


def untrained_snapshot(model, dm) -> dict:
    """What the report compares with, taken at fit start: the test split's attention, the sample
    sentences' mask maps, the task and fixed-offset baselines, and how long it took."""
    start = time.perf_counter()
    stats = analyse_split(model, dm.tensors["test"], dm.relations)
    return {
        "summary": stats.summary(),
        "entropies": stats.entropy_values(),
        "samples": [mask_map(model, sentence_ids(dm.tensors["test"], i)) for i in dm.sample_indices("test")],
        "baselines": cached_task_baselines(dm.tensors["train"], dm.tensors["test"], dm.vocab_size,
                                           dm.cache_dir),
        "offsets": offset_baselines(dm.tensors["test"], dm.relations).summary(),
        "seconds": time.perf_counter() - start,
    }


def valid_snapshot(before) -> bool:
    """True when ``before`` has the keys and types ``untrained_snapshot`` gives (checkpoint input)."""
    return (isinstance(before, dict) and set(before) == set(SNAPSHOT_TYPES)
            and all(isinstance(before[k], t) for k, t in SNAPSHOT_TYPES.items())
            and all(isinstance(p, torch.Tensor) and p.dim() == 3 for p in before["samples"]))


def assemble_report(model, dm, before: dict, test: dict, run: dict) -> tuple[dict, dict]:
    """(report, figures) of the trained ``model`` against the ``before`` snapshot; ``run`` gets the
    model's and corpus's settings and the analysis time (both ends, figures included)."""
    start = time.perf_counter()
    stats = analyse_split(model, dm.tensors["test"], dm.relations)
    config = model.config
    run = {**run, "corpus": dm.corpus, "num_heads": config.num_heads, "d_model": config.d_model,
           "init": config.init}
    report = build_report(test, before["baselines"], before["summary"], stats.summary(),
                          before["offsets"], run)
    figures = {"entropy_histogram": entropy_histogram(before["entropies"].numpy(),
                                                      stats.entropy_values().numpy()),
               "per_relation": relation_bars(report)}
    for k, index in enumerate(dm.sample_indices("test")):
        after = mask_map(model, sentence_ids(dm.tensors["test"], index))  # [H, T, T]
        figures[f"before_after_sample{k}"] = plots.before_after_figure(
            before["samples"][k].mean(0), after.mean(0), dm.tokens_of("test", index),
            f"Mask map of test sample {k}: row i = what the [MASK] at i attends to"
            + (" (mean of heads)" if after.size(0) > 1 else ""),
            before_title=f"before training (init={config.init})")
    report["run"]["analysis_s"] = round(before["seconds"] + time.perf_counter() - start, 2)
    return report, figures
