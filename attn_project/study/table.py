"""A study as text: the Markdown table (with its column notes and few-seed warnings) and the CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from attn_project.analysis.report_schema import Estimate
from attn_project.study.aggregate import estimate, key_text

TABLE = [("test/acc", "test acc"), ("baseline/majority", "majority"),
         ("baseline/bag_of_neighbours", "bag of neighbours"), ("baseline/bigram", "ordered bigram"),
         ("test/balanced_acc", "balanced acc"), ("baseline/bag_of_neighbours_balanced", "bag balanced"),
         ("baseline/bigram_balanced", "bigram balanced"),
         ("entropy/before", "entropy before"), ("entropy/after", "entropy after"),
         ("dep_alignment/before", "alignment before"), ("dep_alignment/after", "alignment after"),
         ("best_offset", "best fixed offset"), ("alignment_margin", "margin over offset")]


def key_label(key: dict) -> str:
    return key_text(key)


def cell(summary: dict | None, digits: int = 3) -> str:
    """``0.861 ± 0.012`` (half-width of the 95% CI); the value alone with one run or when every run
    has the same value (a baseline fitted on the same data)."""
    value = estimate(summary)
    if summary and len(set(summary["values"])) == 1:
        value = Estimate(value.value)
    return value.format(digits, style="plus_minus")


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


# after, mean_head_margin: head-averaged; the verdicts test the dev-chosen best head (best_head_after,
# best_head_margin = it minus the best offset); weights beside hit rates (best_head_weight: on the link,
# best_head_offset_weight: on the best offset's word)
VERDICT_COLUMNS = ("direction", "relation", "n", "after", "best_head", "best_head_after", "best_head_weight",
                   "best_offset", "best_offset_name", "best_head_offset_weight", "best_head_margin",
                   "mean_head_margin", "p_adjusted", "beats_position", "p_adjusted_training",
                   "changed_by_training")


def write_verdicts_csv(runs: list[dict], path: Path, columns: tuple[str, ...] = VERDICT_COLUMNS) -> None:
    """Every run's per-relation verdicts, one row per run × relation × direction: the file every
    "beats position in k of n seeds" sentence is checked against."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["setting", "seed", *columns])
        for run in runs:
            for row in run["verdicts"]:
                writer.writerow([run["setting"], run["seed"], *(row[c] for c in columns)])


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
