"""The pretrained lens's report: the trained runs' ``AttentionBlock`` (same keys, heads named
``L<l>H<h>``), the weight on special tokens per layer, entropy by word class, and figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from attn_project.analysis.lens import SplitRows, layer_head_grid
from attn_project.analysis.position import offset_hits
from attn_project.analysis.report_numbers import (
    NO_UNTRAINED,
    analysis_settings,
    attention_block,
    entropy_by_class,
)
from attn_project.analysis.report_schema import AttentionBlock, clean, estimates_json
from attn_project.analysis.report_text import MIN_ROWS_SHOWN, fmt, head_label
from attn_project.analysis.significance import Bootstrap
from attn_project.viz import plots


def lens_report(test: SplitRows, dev: SplitRows, relations: list[str], run: dict, *, layers: int,
                punct_edges: bool, resamples: int, seed: int) -> tuple[dict, AttentionBlock, np.ndarray]:
    """(report JSON, its attention block, the layer × head grid of margins over the best offset)."""
    boot = Bootstrap(test.rows.sentence, resamples, seed)
    block = AttentionBlock(**attention_block(None, test.rows, dev.rows, boot, relations))
    best = int(block.best_offset_name)  # chosen on dev by attention_block
    grid = layer_head_grid(test.rows, offset_hits(test.rows, best), layers)
    settings = analysis_settings(punct_edges, resamples, seed, chosen_on="dev", training_verdict=NO_UNTRAINED)
    report = {"run": run, "analysis": vars(settings), **block.to_json(),
              "special_share": {"per_layer": test.special_share, "dev_per_layer": dev.special_share},
              "entropy_by_class": estimates_json(entropy_by_class(test.rows, boot)),
              "layer_head_margin": grid.tolist()}
    return clean(report), block, grid  # type: ignore[return-value]


def lens_markdown(report: dict, block: AttentionBlock, names: list[str]) -> str:
    """The report as Markdown: the model, special tokens per layer, entropy by class, per relation."""
    run, classes = report["run"], report["entropy_by_class"]
    lines = [f"# Attention report — pretrained `{run['model']}` on `{run['corpus']}`", "",
             summary_sentence(block, names), "",
             f"{run['description']} {run['layers']} layers × {run['heads']} heads; heads are named "
             f"L<layer>H<head>. Rows: every target word of the test split ({block.after.rows} rows, "
             f"{run['test_sentences']} sentences; {run['skipped_too_long']} too long for the model and "
             f"{run['skipped_unmapped']} not mapped to words were skipped). A word's row is the mean "
             f"over its pieces of their attention, summed over each attended word's pieces; special "
             f"tokens stay in the softmax but are never an attended word, and each row is renormalised over "
             f"the sentence's words (the specials' share is the next table). Best heads and offsets "
             f"chosen on dev, scored on test; "
             f"brackets: 95% bootstrap intervals over test sentences.", "",
             "## Attention to special tokens, per layer", "",
             "| layer | " + " | ".join(str(k) for k in range(run["layers"])) + " |",
             "|---|" + "---|" * run["layers"],
             "| share of a word's attention | "
             + " | ".join(fmt(v) for v in report["special_share"]["per_layer"]) + " |", "",
             "## Entropy of a word's row by class (all heads)", "",
             f"content {fmt(classes.get('content'))}, function {fmt(classes.get('function'))}; "
             f"function − content {fmt(classes.get('function_minus_content'))} "
             f"{bracket(classes.get('function_minus_content_ci95'))}", "",
             f"Best fixed offset overall (chosen on dev): {block.best_offset_name}, "
             f"{block.best_offset.format()} of the test rows.", "",
             "Read as: a head's *alignment* is the share of a relation's test words whose row's "
             "most-attended other word is the linked word (its gold head; in the second table a gold "
             "dependent), after Clark et al. 2019; *its weight on the link* is the weight that row puts "
             "there. A fixed offset (always the word at i + k) is scored the same way.", ""]
    for key, title in (("per_relation", "the word is the dependent, looking at its head"),
                       ("per_relation_to_dependent", "the word is the head, looking at a dependent")):
        lines += [f"## Per relation: {title}", "",
                  "| relation | n | best head (dev) | its alignment (test) | its weight on the link | best "
                  "offset (dev) | its alignment (test) | the head's weight there | p (BH) | beats position |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for rel, r in sorted(getattr(block, key).items(), key=lambda kv: -kv[1].n):
            if r.n < MIN_ROWS_SHOWN:
                continue
            verdict = {True: "yes", False: "no", None: "n < 50: untested"}[r.beats_position]
            lines.append(f"| {rel} | {r.n} | {head_label(names, r.best_head)} | "
                         f"{r.best_head_after.format()} | {r.best_head_weight.format()} | "
                         f"{r.best_offset_name} | {fmt(r.best_offset)} | {fmt(r.best_head_offset_weight)} | "
                         f"{fmt(r.p_adjusted, 4)} | {verdict} |")
        lines.append("")
    return "\n".join(lines + CAVEATS)


CAVEATS = ["## What this report cannot show", "",
           "- Attention is not explanation (Jain & Wallace 2019; Wiegreffe & Pinter 2019): a head's weight "
           "says where it looks, not what the model uses; ablation measures that "
           "(docs/lens_over_training.md).",
           "- Best heads are chosen per relation on dev: a different head may win each relation, and many "
           "heads were tried; the scores are the chosen head's on test.",
           "- *Beats position* is tested against the best fixed offset only; a head that follows a simple "
           "category rule (\"the nearest verb to the left\") would pass it (the lens over training also "
           "tests that rule).",
           "- One model and one treebank: the intervals are over test sentences, not over models or "
           "treebanks.", ""]


def summary_sentence(block: AttentionBlock, names: list[str]) -> str:
    """From the numbers: how many relations have a head that beats position, and the widest margin."""
    tested = {rel: r for rel, r in block.per_relation.items() if r.beats_position is not None}
    beating = {rel: r for rel, r in tested.items() if r.beats_position}
    if not tested:
        return "**Summary:** no relation had enough test rows for a verdict (n < 50 each)."
    if not beating:
        return (f"**Summary:** no relation's dev-chosen head beats the best fixed offset on test "
                f"({len(tested)} relations tested, dependent → head).")
    rel, r = max(beating.items(),
                 key=lambda kv: (kv[1].best_head_after.value or 0) - (kv[1].best_offset or 0))
    return (f"**Summary:** for {len(beating)} of {len(tested)} relations tested (dependent → head) the "
            f"dev-chosen head beats the best fixed offset on test; the widest margin is {rel}'s "
            f"{head_label(names, r.best_head)} ({r.best_head_after.format()} against the offset "
            f"{r.best_offset_name}'s {fmt(r.best_offset)}).")


def bracket(ci: list | None) -> str:
    return "" if not ci else f"[{fmt(ci[0])}, {fmt(ci[1])}]"


def grid_figure(grid: np.ndarray, title: str) -> Figure:
    """Layer × head: each head's alignment minus the best fixed offset's (Clark et al.'s figure)."""
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(0.55 * grid.shape[1] + 2.5, 0.5 * grid.shape[0] + 1.8)
    limit = float(np.abs(grid).max()) or 1.0
    layer_labels = [f"L{k}" for k in range(grid.shape[0])]
    head_labels = [f"H{k}" for k in range(grid.shape[1])]
    plots.heatmap(axes[0], grid, layer_labels, head_labels, title, vmin=-limit, vmax=limit, cmap="RdBu_r",
                  cbar_label="alignment − best offset")
    axes[0].set_xlabel("head")
    axes[0].set_ylabel("layer")
    return fig


def best_head_bars(block: AttentionBlock, names: list[str], top: int = 14) -> Figure:
    """Per relation (dependent → head): the dev-chosen best head on test, with its interval, against
    the dev-chosen best offset (* beats position)."""
    rows = sorted([(rel, r) for rel, r in block.per_relation.items() if r.n >= MIN_ROWS_SHOWN],
                  key=lambda kv: -kv[1].n)[:top]
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(max(7, 0.8 * len(rows) + 2), 4.8)
    ax, x = axes[0], np.arange(len(rows))
    heads = [r.best_head_after.value or 0 for _, r in rows]
    errors = np.array([r.best_head_after.errors() for _, r in rows]).T.reshape(2, -1)  # [2, relations]
    ax.bar(x - 0.2, heads, width=0.4, yerr=errors, capsize=2, label="best head (chosen on dev)")
    ax.bar(x + 0.2, [r.best_offset or 0 for _, r in rows], width=0.4,
           label="best fixed offset (chosen on dev)")
    for i, (_, r) in enumerate(rows):
        ax.text(i - 0.2, 0.02, head_label(names, r.best_head), ha="center", rotation=90, fontsize=7,
                color="white")
        if r.beats_position:
            ax.text(i - 0.2, min(0.97, (r.best_head_after.value or 0) + 0.05), "*", ha="center")
    ax.set_xticks(x, [rel for rel, _ in rows], rotation=45, ha="right")
    ax.set_ylabel("share of words whose top other word is their head")
    ax.set_ylim(0, 1)
    ax.set_title("Per relation, dependent → head: the best head vs the best offset (* beats position)")
    ax.legend()
    return fig


def sample_figure(weights: np.ndarray, tokens: list[str], heads: dict[int, list[str]], names: list[str],
                  title: str, gold_heads: list[int] | None = None) -> Figure:
    """One panel per winning head (head index → its relations) on one sentence's word attention [LH, W, W]."""
    panels = list(heads.items())
    ncols = min(len(panels), 3)
    fig, axes = plots.new_figure(ncols, -(-len(panels) // ncols))
    for ax, (head, rels) in zip(axes, panels):
        plots.heatmap(ax, weights[head], tokens, tokens, f"{names[head]} (best for {', '.join(rels)})",
                      gold_heads=gold_heads)
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def write_outputs(folder: Path, report: dict, markdown: str, figures: dict[str, Figure]) -> dict[str, Path]:
    """attention_report.json + .md and the figures as PNGs; the same in TensorBoard (images, text)."""
    import json

    from torch.utils.tensorboard import SummaryWriter

    folder.mkdir(parents=True, exist_ok=True)
    paths = {"json": folder / "attention_report.json", "md": folder / "attention_report.md"}
    paths["json"].write_text(json.dumps(report, indent=1), encoding="utf-8")
    paths["md"].write_text(markdown, encoding="utf-8")
    writer = SummaryWriter(str(folder))
    try:
        writer.add_text("report/attention_report", markdown, 0)
        for name, fig in figures.items():
            paths[name] = plots.save(fig, folder / f"{name}.png")
            writer.add_figure(f"report/{name}", fig, 0, close=True)
    finally:
        writer.close()
    return paths
