"""The report as Markdown for people: accuracy against the baselines, the interventions,
attention before → after with a plain-words verdict, weights vs effective attention, per head
and per relation (``report_markdown``)."""

from __future__ import annotations

from attn_project.analysis.report_schema import (
    LAYER_INTERVENTION,
    MEASURES,
    AttentionBlock,
    AttentionSummary,
    Intervention,
    Report,
    fmt,
)
from attn_project.analysis.rows import head_names
from attn_project.analysis.significance import MIN_ROWS_FOR_VERDICT

MIN_ROWS_SHOWN = 20  # relations with fewer rows are kept in the JSON but left out of the tables
SKEWED = 0.7  # a majority share from which accuracy alone misleads


def intervention_lines(table: dict[str, Intervention]) -> list[str]:
    """The interventions as a Markdown table (empty without them)."""
    if not table:
        return []
    by_layer = any(LAYER_INTERVENTION.fullmatch(name) for name in table)
    title = ("each layer's attention? (one layer's rows made uniform at test time)" if by_layer
             else "its attention? (the [MASK]'s row replaced at test time)")
    lines = ["", f"## Does the classifier depend on {title}",
             "", "| row replaced by | accuracy | balanced accuracy | change in accuracy |",
             "|---|---|---|---|"]
    for name, r in table.items():
        label = f"{name} ({r.offset})" if r.offset else name
        lines.append(f"| {label} | {r.acc.format()} | {r.balanced_acc.format()} | {r.delta.format()} |")
    return lines + ["", "Read as: does the *trained* classifier depend on its attention — not as: would "
                        "syntax help the task (a classifier trained on its own rows may do worse with a "
                        "one-hot row it never saw). Intervals: paired bootstrap over test sentences."]


def report_markdown(report: Report) -> str:
    """The report as Markdown: accuracy, interventions, attention before → after, effective
    attention, per head, per relation."""
    names = report_head_names(report)
    return "\n".join([*header_lines(report), *accuracy_lines(report),
                      *intervention_lines(report.interventions), *attention_lines(report),
                      *effective_lines(report), *per_head_lines(report.weights.after.per_head, names),
                      *relation_lines(report.weights, names)])


def report_head_names(report: Report) -> list[str]:
    """Every head ``L<l>H<h>``, layer-major (a one-layer model's L0H0, L0H1, …), as TensorBoard's tags."""
    heads = report.weights.after.num_heads
    names, layers = report.run.get("head_names"), report.run.get("num_layers")
    if isinstance(names, list) and len(names) == heads:
        return list(names)
    layers = layers if isinstance(layers, int) and layers >= 1 and heads % layers == 0 else 1
    return head_names(layers, heads // layers)  # a report written before it recorded the names


def header_lines(report: Report) -> list[str]:
    run, analysis = report.run, report.analysis
    assert analysis is not None, "a report built by this code records its analysis settings"
    return [
        f"# Attention report — {run.get('experiment', '')}",
        "",
        f"Model: {run.get('num_layers', 1)} layer(s) × {run.get('num_heads')} head(s), "
        f"d_model={run.get('d_model')}, init=`{run.get('init')}` "
        f"(\"before\" = this initialisation, untrained). Corpus: {run.get('corpus')}; the whole test "
        f"split ({report.weights.after.rows} masked positions). Brackets: 95% bootstrap intervals over test "
        f"sentences ({analysis.bootstrap_resamples} resamples). Punctuation edges "
        f"{'count' if analysis.punct_edges else 'do not count'} as syntax.",
    ]


BASELINE_LABELS = (("majority", "majority"), ("bag_of_neighbours", "bag of neighbours"),
                   ("bigram", "ordered bigram"), ("bag_of_pieces", "bag of neighbours + pieces"),
                   ("bigram_pieces", "ordered bigram + pieces"),
                   ("bag_of_neighbours_class_balanced", "bag of neighbours, class-balanced fit"),
                   ("bigram_class_balanced", "ordered bigram, class-balanced fit"),
                   ("valency", "valency (gold tree: number of dependents, root; no word)"),
                   ("valency_class_balanced", "valency, class-balanced fit"),
                   ("unigram", "unigram language model"), ("left_bigram", "left word → word language model"))
NEAR_MAJORITY = 0.01  # a balanced accuracy this close to a constant answer's: a warning


def near_majority_warning(report: Report) -> str | None:
    """A warning when the balanced accuracy is within a point of what always answering the most
    frequent class scores (1 / the number of classes): a near-majority model, whatever its accuracy."""
    classes = len(report.test.per_class) or 2
    balanced = report.test.balanced_acc.value
    if balanced is None or balanced > 1 / classes + NEAR_MAJORITY:
        return None
    return (f"balanced accuracy {fmt(balanced)} is within {NEAR_MAJORITY:.2f} of a constant answer's "
            f"({fmt(1 / classes)}): this model is close to always predicting one class")


def accuracy_lines(report: Report) -> list[str]:
    """The classifier against the baselines, the task's skew and the recall per class."""
    test, base = report.test, report.baselines
    f1 = test.f1.format() if test.f1 else "–"
    lines = ["", "## Accuracy (test split)", "",
             "| | accuracy | balanced accuracy | macro-F1 | F1 (content) |", "|---|---|---|---|---|",
             f"| classifier | {test.acc.format()} | {test.balanced_acc.format()} | "
             f"{test.macro_f1.format()} | {f1} |"]
    lines += [f"| {label} | {fmt(base[name].get('acc'))} | {fmt(base[name].get('balanced_acc'))} | "
              f"{fmt(base[name].get('macro_f1'))} | – |"
              for name, label in BASELINE_LABELS if name in base]  # the piece ones: data.tokenizer=pieces
    share = test.majority_share.value if test.majority_share else None
    lines += ["", f"Task: {report.run.get('task', 'content_function')}; the most frequent class, "
                  f"{test.majority_class}, is {fmt(share)} of the test targets."]
    warning = near_majority_warning(report)
    if warning:
        lines.append(f"**Warning:** {warning}.")
    if share is not None and share >= SKEWED:
        lines.append(f"**Warning:** one class is {fmt(share)} of the targets: accuracy alone "
                     f"misleads here; read balanced accuracy and macro-F1.")
    if test.per_class:
        lines += per_class_lines(test.per_class)
    return lines


CLASS_COLUMNS = 12  # more classes (the word task's ~1,000): the most and least frequent, as rows


def per_class_lines(per_class: dict) -> list[str]:
    """Recall per class: one row of columns for a few classes; for many, the ``CLASS_COLUMNS // 2``
    most and least frequent in the test targets, one row each (every class stays in the JSON)."""
    if len(per_class) <= CLASS_COLUMNS:
        return ["", "| class | " + " | ".join(per_class) + " |", "|---|" + "---|" * len(per_class),
                "| recall | " + " | ".join(fmt(c["recall"]) for c in per_class.values()) + " |",
                "| test targets | " + " | ".join(str(c["support"]) for c in per_class.values()) + " |"]
    present = [kv for kv in per_class.items() if kv[1]["support"]]  # a class absent from test has no recall
    ranked = sorted(present, key=lambda kv: -kv[1]["support"])
    k = CLASS_COLUMNS // 2
    shown = [("most frequent", ranked[:k]), ("least frequent", ranked[-k:])]
    lines = ["", f"Recall of the {k} most and the {k} least frequent of the {len(present)} classes in the "
                 f"test targets ({len(per_class) - len(present)} more never occur there; every class in "
                 f"attention_report.json):", "",
             "| | class | recall | test targets |", "|---|---|---|---|"]
    return lines + [f"| {label} | {name} | {fmt(c['recall'])} | {c['support']} |"
                    for label, part in shown for name, c in part]


def summary_cells(s: AttentionSummary) -> str:
    return " | ".join(getattr(s, name).format() for name in MEASURES)


MEASURE_DEFINITIONS = [  # each a share over the test rows (the [MASK] at word i), averaged over the heads
    "Read as: *entropy / log T* — 0 all weight on one word, 1 spread evenly over the sentence; "
    "*dependency alignment* — the share of rows whose most-attended other word is i's gold head or one "
    "of its gold dependents (Clark et al. 2019); *dependency mass* — the weight a row puts on those "
    "words together; *self share* — the weight on the [MASK]'s own position. A fixed offset (always "
    "the word at i + k) scores alignment too: attention that beats the best offset follows syntax, "
    "attention that only matches it follows position.",
]


def attention_lines(report: Report) -> list[str]:
    """Entropy, alignment, mass and self share before and after training, the offsets, the verdict."""
    weights = report.weights
    return [
        "",
        "## Attention of the [MASK] (mask map rows), before vs after training",
        "",
        "| | entropy / log T | dependency alignment | dependency mass | self share |",
        "|---|---|---|---|---|",
        f"| before | {summary_cells(report.before)} |",
        f"| after | {summary_cells(weights.after)} |",
        f"| best fixed offset ({weights.best_offset_name}) | – | {weights.best_offset.format()} | – | – |",
        "",
        *MEASURE_DEFINITIONS,
        "",
        "Fixed offsets −3…+3: " + ", ".join(f"{o}: {fmt(weights.offset_baselines[o])}"
                                           for o in ("-3", "-2", "-1", "+1", "+2", "+3")
                                           if o in weights.offset_baselines)
        + f" (searched over {len(weights.offset_baselines)} offsets; all in the JSON).",
        "",
        verdict(report),
        "",
    ]


def per_head_lines(per_head: dict, names: list[str]) -> list[str]:
    if len(names) == 1:
        return []
    return ["## Per head (after training)", "", "| head | entropy | alignment | mass | self share |",
            "|---|---|---|---|---|",
            *(f"| {name} | {fmt(per_head['entropy'][h])} | {fmt(per_head['dep_alignment'][h])} | "
              f"{fmt(per_head['dep_mass'][h])} | {fmt(per_head['self_share'][h])} |"
              for h, name in enumerate(names)),
            ""]


def verdict_word(verdict: bool | None, n: int, applies: bool = True) -> str:
    """yes / no, "untested" below the rows a verdict needs, "n/a" where the test does not apply."""
    if not applies and n >= MIN_ROWS_FOR_VERDICT:
        return "n/a"
    return {True: "yes", False: "no", None: f"n < {MIN_ROWS_FOR_VERDICT}: untested"}[verdict]


def relation_lines(block: AttentionBlock, names: list[str]) -> list[str]:
    """Both per-relation tables (relations with at least ``MIN_ROWS_SHOWN`` rows)."""
    lines, heads = [], len(names)
    for table, title in ((block.per_relation, "the [MASK] attends to its head"),
                         (block.per_relation_to_dependent, "the [MASK] attends to a dependent")):
        lines += [f"## Per relation: {title}", "",
                  "| relation | n | before | after | best offset | adjusted p | beats position? | "
                  "adjusted p | changed by training? |" + (" best head (dev) → test |" if heads > 1 else ""),
                  "|---|---|---|---|---|---|---|---|---|" + ("---|" if heads > 1 else "")]
        for rel, r in sorted(table.items(), key=lambda kv: -kv[1].n):
            if r.n < MIN_ROWS_SHOWN:
                continue
            applies = r.p_value_training is not None
            best = (f" {head_label(names, r.best_head)} → {fmt(r.best_head_after.value)} |" if heads > 1
                    else "")
            lines.append(f"| {rel} | {r.n} | {fmt(r.before)} | {r.after.format()} | "
                         f"{fmt(r.best_offset)} ({r.best_offset_name}) | {fmt(r.p_adjusted, 4)} | "
                         f"{verdict_word(r.beats_position, r.n)} | {fmt(r.p_adjusted_training, 4)} | "
                         f"{verdict_word(r.changed_by_training, r.n, applies=applies)} |" + best)
        lines.append("")
    return lines


def head_label(names: list[str], head: int | None) -> str:
    return "–" if head is None else names[head]


def effective_lines(report: Report) -> list[str]:
    """Weights vs effective attention (norm-based), side by side (empty without the block)."""
    if report.effective is None:
        return []

    def row(name: str, block: AttentionBlock) -> str:
        verdicts = [beats for _, _, beats in block.tested()]
        return (f"| {name} | {block.after.entropy.format()} | {block.after.dep_alignment.format()} | "
                f"{block.alignment_margin.format()} | "
                f"{block.best_offset_name} ({fmt(block.best_offset.value)}) | "
                f"{sum(verdicts)} of {len(verdicts)} |")

    return ["## Weights vs effective attention (‖α v‖, Kobayashi et al. 2020)", "",
            "| trained maps | entropy / log T | dependency alignment | margin over best offset | "
            "best offset | relations beating position |", "|---|---|---|---|---|---|",
            row("weights", report.weights), row("effective", report.effective),
            *([row("exact contributions", report.contributions)] if report.contributions else []),
            "", "Effective attention weighs each word by the norm of what it brings to the [MASK] "
                "(several heads: through W_O); a norm ignores direction. Exact contributions (models "
                "linear after attention only: no residual, LayerNorm or MLP) are each key's share of "
                "|α_ij (w_pred − w̄_other)·v_j|, what it adds to the predicted class's logit margin. All "
                "rows score the same test rows. Verdicts per relation: `effective.per_relation*`, "
                "`contributions.per_relation*` in the JSON.", ""]


def verdict(report: Report) -> str:
    """Plain words for what the numbers say, each claim only when its interval or test allows it."""
    before, weights, analysis = report.before, report.weights, report.analysis
    after, best, margin = weights.after, weights.best_offset, weights.alignment_margin
    change = report.entropy_change
    assert analysis is not None
    words = [{-1: "Training made attention sharper", 1: "Training made attention smoother",
              0: "Training did not change attention's entropy clearly"}[change.side_of_zero()]
             + f" (entropy {fmt(before.entropy.value)} → {fmt(after.entropy.value)}, "
             f"change {change.format()}); "
             f"the [MASK]'s weight on itself went {fmt(before.self_share.value)} → "
             f"{fmt(after.self_share.value)}."]
    side = margin.side_of_zero()
    words.append(f"Overall alignment with syntax ({fmt(after.dep_alignment.value)}) "
                 + {1: "beats", -1: "is below", 0: "cannot be told apart from"}[side]
                 + f" the best fixed offset ({weights.best_offset_name}: {fmt(best.value)}; difference "
                 f"{margin.format()})" + (": overall, it tracks position at least as much as syntax."
                                         if side <= 0 else "."))
    tested = weights.tested()
    beats = [f"{rel} ({side})" for rel, side, beats in tested if beats]
    test = f"{analysis.relation_test or 'paired test'}, {analysis.correction}-adjusted p < {analysis.alpha}"
    words.append(f"Relations whose best head follows syntax beyond position (beats the dev-chosen best "
                 f"offset; {test}, {len(tested)} tested with n ≥ {analysis.min_rows_for_verdict}): "
                 + (", ".join(sorted(beats)) if beats else "none") + ".")
    changed = weights.changed()
    if analysis.training_verdict and analysis.training_verdict.startswith("not applicable"):
        words.append(f"Changed by training: {analysis.training_verdict}.")
    elif changed:
        grown = [f"{rel} ({side})" for rel, side, yes in changed if yes]
        words.append(f"Relations whose best head was changed by training (beats the untrained model's same "
                     f"head; {test}, {len(changed)} tested): " + (", ".join(sorted(grown)) or "none") + ".")
    return " ".join(words)
