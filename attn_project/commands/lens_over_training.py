"""``attn-lens-over-training run_dir=RUN data.root=TREEBANK``: the lens (``analysis.lens``) on every
saved checkpoint of a language model trained here, on a treebank's dev (choice of heads and offsets)
and test (scores) that the model did not train on.

Per checkpoint, relation and direction: the dev-chosen best head's test accuracy with its sentence-
bootstrap interval, the dev-chosen offset's and category rule's (``analysis.category_rules``), three
verdicts (beats position; beats the category rule; changed by training, against the step-0
checkpoint's same head), and MiniLM's level on the same split when its report is given. Per
checkpoint: entropy by word class, the model's loss and top-1 on the treebank's test words, and the
undirected attachment score of the maximum spanning tree over the best head's rows
(``analysis.spanning_trees``) beside the right-branching chain's.
Outputs, in ``out`` (default RUN/lens): lens_over_training.csv / .json / .md, TensorBoard scalars
with the training step as x, heat maps of the final winning heads on a test sentence at each
checkpoint, and the emergence figure (emergence.png).

A causal model's row covers its left context only: dependent → head is scored on the rows whose head
precedes the word, head → dependent on the dependents that precede it (each against offsets chosen
on the same rows).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import re
from pathlib import Path

import hydra
import numpy as np
from matplotlib.figure import Figure
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from attn_project.analysis.category_rules import CategoryEntry, RuleTargets, category_table
from attn_project.analysis.head_ablation import ablation_effect, encoded, scored_words
from attn_project.analysis.lens import SplitRows, lens_rows
from attn_project.analysis.lm_scores import lm_scores
from attn_project.analysis.report_numbers import attention_block, entropy_by_class
from attn_project.analysis.report_schema import AttentionBlock, RelationEntry
from attn_project.analysis.report_text import MIN_ROWS_SHOWN, fmt
from attn_project.analysis.rows import RowScores, head_names
from attn_project.analysis.significance import Bootstrap
from attn_project.analysis.spanning_trees import chain_attachment, head_attachment
from attn_project.analysis.trained_source import TrainedSource
from attn_project.commands.train_lm import load_language_model, saved_data
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.data.files import atomic_write_text
from attn_project.data.lm_datamodule import generated_corpus
from attn_project.errors import ConfigError
from attn_project.viz import plots

log = logging.getLogger(__name__)

CSV_COLUMNS = ["step", "tokens", "relation", "direction", "n", "best_head", "best_head_acc", "best_head_lo",
               "best_head_hi", "offset", "offset_acc", "category_rule", "category_acc", "beats_position",
               "beats_category",
               "changed_by_training", "minilm_acc"]
DIRECTIONS = {"per_relation": "to_head", "per_relation_to_dependent": "to_dependent"}
STEP = re.compile(r"step[_=](\d+)\.ckpt$")  # step_NNNNNNN.ckpt (step=… in runs made before the rename)


def checkpoints_of(run_dir: Path) -> list[tuple[int, Path]]:
    """The run's log-spaced checkpoints, (step, path) by step."""
    found = sorted((int(m.group(1)), p) for p in (run_dir / "checkpoints").glob("step*.ckpt")
                   if (m := STEP.search(p.name)))
    if not found:
        raise ConfigError(f"run_dir={run_dir}: no checkpoints/step_NNNNNNN.ckpt (a language-model run "
                          f"trained with experiment=lm_mlm or lm_causal)")
    return found


def own_treebank(run_dir: Path) -> Path:
    """Without ``data.root``: the run's own held-out trees — the generated corpus it trained on. A run
    on text files has no trees of its own (their sentences are not parsed)."""
    saved = run_dir / ".hydra" / "config.yaml"
    data = saved_data(run_dir)
    if data is None:
        raise ConfigError(f"data.root: {saved} is missing or has no data settings; give the treebank "
                          f"to read, e.g. data.root=../shared/data/ud_english_ewt")
    if OmegaConf.select(data, "files", throw_on_resolution_failure=False):
        raise ConfigError(f"data.root: {run_dir} trained on text files (no trees of their own); give a "
                          f"treebank it did not train on, e.g. data.root=../shared/data/ud_english_ewt")
    data_dir = OmegaConf.select(data, "data_dir", throw_on_resolution_failure=False)
    if data_dir is None:
        raise ConfigError(f"data.root: {saved}'s data.data_dir does not resolve here; give the generated "
                          f"corpus's folder (data/generated/lm_default_…) as data.root")
    sizes = OmegaConf.to_container(data.generated_sizes)
    return generated_corpus(Path(str(data_dir)), dict(sizes), int(data.max_len))  # type: ignore[arg-type]


def tokens_at(run_dir: Path, steps: list[int]) -> dict[int, float | None]:
    """Training tokens seen by each step, from the run's TensorBoard ``train/tokens`` (None: not logged)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged: dict[int, float] = {}
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if "train/tokens" in accumulator.Tags()["scalars"]:
            logged |= {e.step: e.value for e in accumulator.Scalars("train/tokens")}
    out: dict[int, float | None] = {}
    for step in steps:
        before = [s for s in logged if s <= step]
        out[step] = 0.0 if step == 0 else (logged[max(before)] if before else None)
    return out


def left_links_only(rows: RowScores) -> RowScores:
    """A causal model's view: a row counts for its head only when the head precedes it, and only
    the dependents that precede it are its links."""
    keep = rows.dep_offset < 0
    relation = np.where(rows.head_offset < 0, rows.relation, -1)
    return dataclasses.replace(rows, relation=relation, dep_row=rows.dep_row[keep],
                               dep_offset=rows.dep_offset[keep], dep_rel=rows.dep_rel[keep],
                               dep_weight=rows.dep_weight[keep] if len(rows.dep_weight) else rows.dep_weight)


def through_lens(source: TrainedSource, dm: MaskedTokenDataModule, split: str, samples: list[int],
                 cfg: DictConfig) -> SplitRows:
    rows = lens_rows(source, dm.sentences[split], dm.tensors[split], batch_size=int(cfg.batch_size),
                     samples=samples, punct_edges=bool(cfg.analysis.punct_edges), desc=split)
    if source.model.causal:
        rows.rows = left_links_only(rows.rows)
    return rows


def minilm_levels(path: str | None) -> dict[tuple[str, str], float]:
    """(relation, direction) → MiniLM's dev-chosen best head on test, from a pretrained lens report."""
    if not path:
        return {}
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    return {(rel, direction): entry.get("best_head_after") for key, direction in DIRECTIONS.items()
            for rel, entry in report.get(key, {}).items() if entry.get("best_head_after") is not None}


def table_rows(step: int, tokens: float | None, block: AttentionBlock, names: list[str],
               minilm: dict[tuple[str, str], float],
               rules: dict[tuple[str, str], CategoryEntry]) -> list[dict]:
    """The csv's rows of one checkpoint: every relation with enough rows, both directions."""
    out = []
    for key, direction in DIRECTIONS.items():
        for rel, r in sorted(getattr(block, key).items()):
            if r.n < MIN_ROWS_SHOWN:
                continue
            lo, hi = r.best_head_after.ci95 or (None, None)
            rule = rules.get((rel, direction), CategoryEntry(None, None))
            out.append({"step": step, "tokens": tokens, "relation": rel, "direction": direction, "n": r.n,
                        "best_head": None if r.best_head is None else names[r.best_head],
                        "best_head_acc": r.best_head_after.value, "best_head_lo": lo, "best_head_hi": hi,
                        "offset": r.best_offset_name, "offset_acc": r.best_offset,
                        "category_rule": rule.rule, "category_acc": rule.category_acc,
                        "beats_position": r.beats_position, "beats_category": rule.beats_category,
                        "changed_by_training": r.changed_by_training,
                        "minilm_acc": minilm.get((rel, direction))})
    return out


def spanning_tree_scores(dev: SplitRows, test: SplitRows, dm: MaskedTokenDataModule, names: list[str],
                         cfg: DictConfig) -> dict:
    """The maximum spanning tree's undirected attachment score (Htut et al.): the head best on dev,
    on test with its sentence-bootstrap interval, beside the right-branching chain's."""
    _, dev_scores = head_attachment(dev.samples, dm.sentences["dev"])
    index, test_scores = head_attachment(test.samples, dm.sentences["test"])
    best = int(dev_scores.mean(0).argmax())
    boot = Bootstrap(index, int(cfg.analysis.bootstrap_resamples), int(cfg.seed))
    estimate = boot.estimate(test_scores[:, best])
    return {"mst_best_head": names[best], **estimate.write("mst_uas"),
            "chain_uas": float(chain_attachment(dm.sentences["test"], index).mean())}


def upos_tags(dm: MaskedTokenDataModule) -> list[str]:
    """The UPOS tags of the treebank's training words (the rules' categories)."""
    return sorted({tag for s in dm.sentences["train"] for tag in s.upos})


def first_emergence(table: list[dict], summaries: list[dict]) -> dict:
    """Per relation and direction, the first checkpoint whose best head beats its offset (tested,
    corrected), beside the step where the treebank loss falls fastest per log-step."""
    first: dict[str, int | None] = {}
    for row in sorted(table, key=lambda r: r["step"]):
        key = f"{row['relation']} ({row['direction']})"
        if row["beats_position"] and first.get(key) is None:
            first[key] = row["step"]
        first.setdefault(key, None)
    steps = [s["step"] for s in summaries if s["step"] > 0]
    losses = [s["treebank_loss"] for s in summaries if s["step"] > 0]
    drops = [(losses[k] - losses[k + 1]) / np.log(steps[k + 1] / steps[k]) for k in range(len(steps) - 1)]
    fastest = steps[int(np.argmax(drops)) + 1] if drops else None
    return {"first_beats_position": first, "fastest_loss_drop_step": fastest}


def emergence_figure(table: list[dict], summaries: list[dict], relations: list[tuple[str, str]],
                     title: str) -> Figure:
    """Relations × training step (symlog x): each best head with its interval, the offset and MiniLM
    as lines; the treebank loss below."""
    fig, axes = plots.new_figure(len(relations) + 1, 1, cell=3.2)
    fig.set_size_inches(3.2 * (len(relations) + 1), 3.4)
    for ax, (rel, direction) in zip(axes, relations):
        rows = sorted((r for r in table if r["relation"] == rel and r["direction"] == direction),
                      key=lambda r: r["step"])
        steps = [r["step"] for r in rows]
        acc = [r["best_head_acc"] or 0.0 for r in rows]
        ax.fill_between(steps, [r["best_head_lo"] or a for r, a in zip(rows, acc)],
                        [r["best_head_hi"] or a for r, a in zip(rows, acc)], alpha=0.25)
        ax.plot(steps, acc, marker="o", label="best head (dev-chosen)")
        ax.scatter([r["step"] for r in rows if r["beats_position"]],
                   [r["best_head_acc"] for r in rows if r["beats_position"]], marker="*", s=90, zorder=3,
                   color="black", label="beats position")
        if rows and rows[-1]["offset_acc"] is not None:
            ax.axhline(rows[-1]["offset_acc"], ls="--", color="grey", label=f"offset {rows[-1]['offset']}")
        if rows and rows[-1]["category_acc"] is not None:
            ax.axhline(rows[-1]["category_acc"], ls="-.", color="green", label=str(rows[-1]["category_rule"]))
        if rows and rows[-1]["minilm_acc"] is not None:
            ax.axhline(rows[-1]["minilm_acc"], ls=":", color="purple", label="MiniLM")
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlim(left=0)
        ax.set_ylim(0, 1)
        ax.set_title(f"{rel} ({'dependent → head' if direction == 'to_head' else 'head → dependent'})")
        ax.set_xlabel("training step")
        ax.legend(fontsize=6, loc="upper left")
    loss_ax = axes[len(relations)]
    loss_ax.plot([s["step"] for s in summaries], [s["treebank_loss"] for s in summaries], marker="o")
    loss_ax.set_xscale("symlog", linthresh=10)
    loss_ax.set_xlim(left=0)
    loss_ax.set_title("loss on the treebank's test words")
    loss_ax.set_xlabel("training step")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plotted_relations(table: list[dict], named: list[str], top: int = 4) -> list[tuple[str, str]]:
    """The named relations (dependent → head) the table has; without any, its ``top`` most frequent."""
    last = max(r["step"] for r in table)
    final = sorted((r for r in table if r["step"] == last and r["direction"] == "to_head"),
                   key=lambda r: -r["n"])
    present = {r["relation"] for r in final}
    chosen = [rel for rel in named if rel in present] or [r["relation"] for r in final[:top]]
    return [(rel, "to_head") for rel in chosen]


def markdown(table: list[dict], summaries: list[dict], emergence: dict, run_dir: Path, corpus: str) -> str:
    last = max(r["step"] for r in table)
    lines = [f"# Lens over training — `{run_dir}`", "",
             f"Treebank: {corpus} (heads and offsets chosen on dev, scored on test; brackets: 95% bootstrap "
             f"intervals over test sentences). One run: a demonstration, not a study.", "",
             "## Per checkpoint", "",
             "| step | tokens | treebank loss | top-1 | entropy function − content | "
             "spanning tree: best head, UAS | right-branching chain's UAS |",
             "|---|---|---|---|---|---|---|"]
    for s in summaries:
        lines.append(f"| {s['step']} | {fmt(s['tokens'], 0) if s['tokens'] is not None else '–'} | "
                     f"{fmt(s['treebank_loss'])} | {fmt(s['treebank_top1'])} | {fmt(s['entropy_gap'])} | "
                     f"{s['mst_best_head']} {estimate_text(s, 'mst_uas')} | {fmt(s['chain_uas'])} |")
    lines += ["", f"Fastest loss drop (per log-step) at step {emergence['fastest_loss_drop_step']}.", "",
              f"## Final checkpoint (step {last})", "",
              "| relation | direction | n | best head | its accuracy (test) | offset | its accuracy | "
              "category rule | its accuracy | beats position | beats the rule | changed by training | "
              "first step beating position |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in sorted((r for r in table if r["step"] == last), key=lambda r: -r["n"]):
        first = emergence["first_beats_position"].get(f"{r['relation']} ({r['direction']})")
        lines.append(f"| {r['relation']} | {r['direction']} | {r['n']} | {r['best_head']} | "
                     f"{fmt(r['best_head_acc'])} [{fmt(r['best_head_lo'])}, {fmt(r['best_head_hi'])}] | "
                     f"{r['offset']} | {fmt(r['offset_acc'])} | {r['category_rule'] or '–'} | "
                     f"{fmt(r['category_acc'])} | {verdict(r['beats_position'])} | "
                     f"{verdict(r['beats_category'])} | {verdict(r['changed_by_training'])} | "
                     f"{'–' if first is None else first} |")
    return "\n".join(lines) + "\n"


def verdict(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "untested"}[value]


def write_csv(path: Path, table: list[dict]) -> None:
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(table)
    atomic_write_text(path, buffer.getvalue())


def run_lens_over_training(cfg: DictConfig) -> dict[str, Path]:
    """The lens on every checkpoint of ``cfg.run_dir``; returns the written files."""
    run_dir = Path(cfg.run_dir)
    checkpoints = checkpoints_of(run_dir)
    tokens = tokens_at(run_dir, [s for s, _ in checkpoints])
    out = Path(cfg.out) if cfg.out else run_dir / "lens"
    if cfg.data.root is None and cfg.data.corpus == "ud":
        cfg.data.root = str(own_treebank(run_dir))
    dm: MaskedTokenDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    minilm = minilm_levels(cfg.get("minilm_report"))
    sample = dm.sample_indices("test")[:1]
    every = {split: list(range(len(dm.sentences[split]))) for split in ("dev", "test")}  # rows kept for trees
    table: list[dict] = []
    summaries: list[dict] = []
    before: RowScores | None = None
    targets: dict[str, RuleTargets] = {}  # each rule's word for every word: the same at every checkpoint
    samples: dict[int, np.ndarray] = {}
    names: list[str] = []
    for step, path in tqdm(checkpoints, desc="checkpoints", unit="ckpt"):
        model, tokenizer = load_language_model(path)
        source = TrainedSource(model, tokenizer)
        names = head_names(model.config.num_layers, model.config.num_heads)
        dev = through_lens(source, dm, "dev", every["dev"], cfg)
        test = through_lens(source, dm, "test", every["test"], cfg)
        boot = Bootstrap(test.rows.sentence, int(cfg.analysis.bootstrap_resamples), int(cfg.seed))
        block = AttentionBlock(**attention_block(before, test.rows, dev.rows, boot, dm.relations))
        before = test.rows if before is None else before  # the step-0 model: the untrained twin
        targets = targets or {split: RuleTargets(dm.sentences[split], upos_tags(dm), model.causal)
                              for split in ("dev", "test")}
        rules = category_table(test.rows, dev.rows, targets["test"], targets["dev"], block, dm.relations,
                               bool(cfg.analysis.punct_edges))
        table += table_rows(step, tokens[step], block, names, minilm, rules)
        scores = lm_scores(model, tokenizer, dm.sentences["test"], seed=int(cfg.seed))
        gap = entropy_by_class(test.rows, boot).get("function_minus_content")
        trees = spanning_tree_scores(dev, test, dm, names, cfg)
        summaries.append({"step": step, "tokens": tokens[step], "treebank_loss": scores["loss"],
                          "treebank_top1": scores["top1"], "treebank_scored": scores["scored"],
                          "entropy_gap": None if gap is None else gap.value,
                          "test_sentences": len(test.kept), "skipped_too_long": test.skipped_too_long,
                          **trees})
        if sample and sample[0] in test.samples:  # the one test sentence drawn, at this checkpoint
            samples[step] = test.samples[sample[0]].numpy()
    emergence = first_emergence(table, summaries)
    ablation = ablations(model, tokenizer, dm, block, names, cfg)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "lens_over_training.csv", "json": out / "lens_over_training.json",
             "md": out / "lens_over_training.md", "figure": out / "emergence.png"}
    write_csv(paths["csv"], table)
    corpus = str(cfg.data.root)
    atomic_write_text(paths["json"], json.dumps({"run_dir": str(run_dir), "corpus": corpus,
                                                 "checkpoints": summaries, "emergence": emergence,
                                                 "ablation": ablation,
                                                 "relations": table}, indent=1))
    atomic_write_text(paths["md"], markdown(table, summaries, emergence, run_dir, corpus)
                      + ablation_markdown(ablation, checkpoints[-1][0]))
    relations = plotted_relations(table, list(cfg.plot or []))
    figure = emergence_figure(table, summaries, relations, f"Heads over training: {run_dir.name}")
    tokens_shown = dm.tokens_of("test", sample[0]) if sample else []
    gold = dm.sentences["test"][sample[0]].heads if sample else []
    write_tensorboard(out, table, summaries, samples, (tokens_shown, gold), winning_heads(table, relations),
                      names, figure)
    plots.save(figure, paths["figure"])
    print(f"lens over training: {paths['md']}")
    return paths


def write_tensorboard(out: Path, table: list[dict], summaries: list[dict], samples: dict[int, np.ndarray],
                      shown: tuple[list[str], list[int]], winners: dict[str, list[str]], names: list[str],
                      emergence: Figure) -> None:
    """Scalars with the training step as x, the winning heads on one test sentence per checkpoint, and
    the emergence figure at the last step."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(out))
    try:
        for row in table:
            tag = f"lens/{row['direction']}/{row['relation']}/best_head_acc"
            writer.add_scalar(tag, row["best_head_acc"] or 0.0, row["step"])
        for s in summaries:
            writer.add_scalar("lens/treebank_loss", s["treebank_loss"], s["step"])
            writer.add_scalar("lens/treebank_top1", s["treebank_top1"], s["step"])
        for step, weights in samples.items():
            panels = plots_of_heads(weights, shown, winners, names, f"step {step}")
            writer.add_figure("lens/winning_heads", panels, step, close=True)
        writer.add_figure("lens/emergence", emergence, max(r["step"] for r in table), close=False)
    finally:
        writer.close()


def ablations(model, tokenizer, dm: MaskedTokenDataModule, block: AttentionBlock, names: list[str],
              cfg: DictConfig) -> list[dict]:
    """At the final checkpoint: each ``cfg.ablate`` relation's best head mean-ablated, and a random other
    head of its layer, on the treebank's test words (``analysis.head_ablation``). The best head is the
    dependent → head one; where there is none (a causal model, whose rows cannot reach a head that
    follows), the head → dependent one."""
    heads = model.config.num_heads
    rows = encoded(tokenizer, dm.sentences["test"], model.config.max_len)
    dev_rows = encoded(tokenizer, dm.sentences["dev"], model.config.max_len)
    seed = int(cfg.seed)
    baseline = scored_words(model, rows, seed)
    boot = Bootstrap(baseline.sentence, int(cfg.analysis.bootstrap_resamples), seed)
    rng = np.random.default_rng(seed)
    out = []
    for relation in cfg.ablate or []:
        direction, entry = best_entry(block, relation)
        if entry is None or entry.best_head is None:
            continue
        layer, head = divmod(entry.best_head, heads)
        other = int(rng.choice([h for h in range(heads) if h != head])) if heads > 1 else head
        for kind, h in (("best head", head), ("random head of its layer", other)):
            effect = ablation_effect(model, rows, dev_rows, dm.sentences["test"], relation, layer, h,
                                     baseline, boot, seed)
            flat: dict = {"linked_words": effect.pop("linked_words")}
            for key, value in effect.items():  # Estimates → value and interval
                flat |= value.write(key)
            out.append({"relation": relation, "direction": direction, "ablated": kind,
                        "head": names[layer * heads + h],
                        "top1_before": float(baseline.correct.mean()), **flat})
    return out


def best_entry(block: AttentionBlock, relation: str) -> tuple[str, RelationEntry | None]:
    """The relation's dependent → head entry where it has a best head, else its head → dependent one."""
    for key, direction in DIRECTIONS.items():
        entry = getattr(block, key).get(relation)
        if entry is not None and entry.best_head is not None:
            return direction, entry
    return "to_head", None


def ablation_markdown(ablation: list[dict], step: int) -> str:
    if not ablation:
        return ""
    lines = ["", f"## Mean-ablating a head (step {step}): the change in top-1", "",
             "Drop = top-1 before − after (positive: the model got worse), on the words the relation links "
             "and on the other words, paired by sentence.", "",
             "| relation | ablated | head | linked words | drop on them | drop on the others | "
             "linked − others |",
             "|---|---|---|---|---|---|---|"]
    for a in ablation:
        arrow = "→ head" if a.get("direction", "to_head") == "to_head" else "→ dependent"
        lines.append(f"| {a['relation']} ({arrow}) | {a['ablated']} | {a['head']} | {a['linked_words']} | "
                     f"{estimate_text(a, 'drop_on_linked')} | {estimate_text(a, 'drop_on_others')} | "
                     f"{estimate_text(a, 'linked_minus_others')} |")
    return "\n".join(lines) + "\n"


def estimate_text(row: dict, key: str) -> str:
    ci = row.get(f"{key}_ci95")
    return f"{fmt(row.get(key))}" + (f" [{fmt(ci[0])}, {fmt(ci[1])}]" if ci else "")


def winning_heads(table: list[dict], relations: list[tuple[str, str]]) -> dict[str, list[str]]:
    """The final checkpoint's best head (name) → the plotted relations it wins."""
    last = max(r["step"] for r in table)
    heads: dict[str, list[str]] = {}
    for r in table:
        if r["step"] == last and (r["relation"], r["direction"]) in relations and r["best_head"]:
            heads.setdefault(r["best_head"], []).append(r["relation"])
    return heads


def plots_of_heads(weights: np.ndarray, shown: tuple[list[str], list[int]], heads: dict[str, list[str]],
                   names: list[str], title: str) -> Figure:
    """One panel per winning head on one test sentence's word attention [L·H, W, W] (its words and
    gold heads, outlined)."""
    tokens, gold = shown
    panels = list(heads.items())
    fig, axes = plots.new_figure(max(len(panels), 1))
    for ax, (head, rels) in zip(axes, panels):
        plots.heatmap(ax, weights[names.index(head)], tokens, tokens, f"{head} (best for {', '.join(rels)})",
                      gold_heads=gold)
    fig.suptitle(title)
    return fig
