"""A language-model study as text: per setting the held-out scores and the final checkpoint's lens
(means with 95% intervals over seeds), per relation the best head against its offset and its category
rule with how many seeds each verdict held in, and findings sentences generated from those numbers,
each with what its cell cannot show."""

from __future__ import annotations

from attn_project.study.table import MIN_SEEDS, cell, few_seeds_warnings, key_label

TABLE = [("test/top1", "test top-1"), ("baseline/trigram_kn/acc", "KN trigram top-1"),
         ("test/perplexity", "test perplexity"), ("lens/treebank_top1", "treebank top-1"),
         ("lens/mst_minus_chain", "spanning tree − chain UAS"),
         ("lens/fastest_loss_drop_step", "fastest loss drop (step)")]
RELATIONS = ("det", "case", "nsubj", "obj")  # the four (the rest: study.json, verdicts.csv)
DIRECTION = "to_head"  # the figures' direction: dependent → head
DIRECTIONS = {"to_head": "→ head", "to_dependent": "→ dependent"}


def lm_study_markdown(study: dict) -> str:
    lines = ["| setting | runs (seeds) | " + " | ".join(label for _, label in TABLE) + " |",
             "|---|---|" + "---|" * len(TABLE)]
    for g in study["groups"]:
        lines.append(f"| {key_label(g['key'])} | {g['n_runs']} ({', '.join(map(str, g['seeds']))}) | "
                     + " | ".join(cell(g["metrics"].get(name), 0 if name.endswith("_step") else 3)
                                  for name, _ in TABLE) + " |")
    lines += ["", "Mean ± half-width of the 95% confidence interval (Student's t over seeds); the lens at "
              "each run's final checkpoint (heads, offsets and rules chosen on dev, scored on test).", ""]
    lines += relations_table(study) + [""] + ablation_table(study) + ["", "## Findings", ""]
    lines += [f"- {sentence}" for sentence in findings(study)]
    lines += ["", *(f"**Warning:** {w}" for w in few_seeds_warnings(study))]
    lines += [f"Skipped {s['run']}: {s['why']}" for s in study["skipped"]]
    return "\n".join(lines) + "\n"


def relation_metric(rel: str, name: str, direction: str = DIRECTION) -> str:
    return f"lens/{rel}/{direction}/{name}"


def relations_table(study: dict) -> list[str]:
    lines = ["| setting | relation | best head | offset | category rule | head − offset | head − rule | "
             "beats position (seeds) | beats the rule (seeds) | first step beating position (per seed) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for g in study["groups"]:
        for rel, direction in [(r, d) for r in RELATIONS for d in DIRECTIONS]:
            metric = g["metrics"].get
            if metric(relation_metric(rel, "best_head_acc", direction)) is None:
                continue  # a causal model's rows: no dependent → head where every head follows
            entry = g["relations"].get(f"{rel} ({direction})", {})
            first = metric(relation_metric(rel, "first_beats_position", direction), {}).get("by_seed", {})
            steps = ", ".join(f"{int(first[s])}" if s in first else "–" for s in map(str, g["seeds"]))
            lines.append(f"| {key_label(g['key'])} | {rel} {DIRECTIONS[direction]} | "
                         + " | ".join(cell(metric(relation_metric(rel, n, direction))) for n in
                                      ("best_head_acc", "offset_acc", "category_acc", "margin_over_offset",
                                       "margin_over_category"))
                         + f" | {seeds_held(entry, 'beats_position_runs', 'tested_runs')}"
                         + f" | {seeds_held(entry, 'beats_category_runs', 'category_tested_runs')}"
                         + f" | {steps} |")
    return lines + ["", "Every other relation is in `study.json` and `verdicts.csv`. A verdict is the "
                        "run's own (bootstrap over test sentences, Benjamini–Hochberg over relations); "
                        "*seeds* counts the runs it held in."]


def seeds_held(entry: dict, held: str, tested: str) -> str:
    return f"{entry.get(held, 0)} of {entry.get(tested, 0)}"


def ablation_table(study: dict) -> list[str]:
    names = sorted({n.split("/")[1] for g in study["groups"] for n in g["metrics"]
                    if n.startswith("ablation/")})
    if not names:
        return []
    lines = ["| setting | " + " | ".join(f"{rel}: best head | {rel}: random head" for rel in names) + " |",
             "|---|" + "---|---|" * len(names)]
    for g in study["groups"]:
        lines.append(f"| {key_label(g['key'])} | " + " | ".join(
            f"{cell(g['metrics'].get(f'ablation/{rel}/best_head'))} | "
            f"{cell(g['metrics'].get(f'ablation/{rel}/random_head'))}" for rel in names) + " |")
    return lines + ["", "Mean ablation at the final checkpoint: the top-1 drop on the words the relation "
                        "links minus the drop on other words (positive: the head matters more for them)."]


def findings(study: dict) -> list[str]:
    """One sentence per setting, from its numbers, and what the cell cannot show."""
    out = []
    for g in study["groups"]:
        relations = g["relations"]
        position = every_seed(relations, "beats_position_runs", "tested_runs")
        category = every_seed(relations, "beats_category_runs", "category_tested_runs")
        tree = g["metrics"].get("lens/mst_minus_chain")
        tree_words = tree_verdict(tree)
        out.append(f"**{key_label(g['key'])}** ({g['n_runs']} seeds): the best head beats its offset in "
                   f"every seed for {len(position)} relation(s) ({', '.join(position) or 'none'}), the "
                   f"category rule for {len(category)} ({', '.join(category) or 'none'}); the spanning "
                   f"tree over the best head's rows is {tree_words} the right-branching chain "
                   f"({cell(tree)}). {cannot_show(g)}")
    return out


def every_seed(relations: dict, held: str, tested: str) -> list[str]:
    """The relations (and directions) whose verdict held in every seed that tested it."""
    return sorted(named(r) for r, e in relations.items() if e.get(tested) and e.get(held) == e[tested])


def named(key: str) -> str:
    """``obj (to_head)`` → ``obj → head``."""
    relation, direction = key.rsplit(" (", 1)
    return f"{relation} {DIRECTIONS.get(direction.rstrip(')'), direction)}"


def tree_verdict(summary: dict | None) -> str:
    if not summary or summary.get("ci95") is None:
        return "(no interval) against"
    low, high = summary["ci95"]
    return "above" if low > 0 else "below" if high < 0 else "not distinguishable from"


def cannot_show(group: dict) -> str:
    """What one cell of this study cannot show, from its settings."""
    limits = [f"{group['n_runs']} seeds: a study's cell, not a headline (that needs 10)"
              if group["n_runs"] >= MIN_SEEDS else f"{group['n_runs']} seed(s): no finding"]
    limits.append("one corpus and one training length (a verdict on other text or more steps is not "
                  "implied)")
    limits.append("a head beating its offset in each seed is not shown to be the same head across seeds")
    return "It cannot show: " + "; ".join(limits) + "."
