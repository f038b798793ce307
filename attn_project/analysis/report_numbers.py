"""The numbers of the before/after report, from per-row scores: values with bootstrap
intervals, every fixed offset, and per relation two tested verdicts.

Per relation and direction, the head chosen on dev (for several heads) is scored on test and
tested twice, each a paired test clustered by sentence with Benjamini–Hochberg across all relations
of both tables, its own family, and only with at least ``MIN_ROWS_FOR_VERDICT`` rows (else ``null``):

- ``beats_position`` — *follows syntax beyond position*: it hits the gold link more often than the
  best fixed offset (chosen on dev on the same kind of rows, scored on the same test rows);
- ``changed_by_training`` — it hits more often than the untrained model's same head on the same
  rows. Not applicable (``null``, ``analysis.training_verdict`` says why) where the rows cannot train
  (a rule, an oracle, a pretrained head's rows: the untrained twin has the same rows) or no
  untrained model was run (a pretrained encoder).

Without dev rows (a caller that has none) offsets and heads are chosen on test, and the report's
``analysis`` block says so.
"""

from __future__ import annotations

from typing import cast

import numpy as np

from attn_project.analysis.position import (
    best_offset,
    model_hits,
    most_frequent_relation_offset,
    offset_alignment,
    offset_hits,
    relation_offset_hits,
    relation_rows,
)
from attn_project.analysis.report_schema import (
    MEASURES,
    AnalysisSettings,
    AttentionBlock,
    AttentionSummary,
    EffectiveBlock,
    Estimate,
    RelationEntry,
    Report,
    clean,
)
from attn_project.analysis.rows import RowScores
from attn_project.analysis.significance import (
    ALPHA,
    CORRECTION,
    MIN_ROWS_FOR_VERDICT,
    RELATION_TEST,
    Bootstrap,
    adjust,
    classification,
    clustered_greater,
)

FIELDS = dict(zip(MEASURES, ("entropy", "aligned", "mass", "self_share")))  # measure → RowScores field


TRAINING_TESTED = "best head vs the untrained model's same head"
ROWS_FIXED = "not applicable: the rows are fixed (a rule, an oracle or a pretrained head's rows)"
NO_UNTRAINED = "not applicable: no untrained model"


def analysis_settings(punct_edges: bool, resamples: int, seed: int, chosen_on: str,
                      training_verdict: str = TRAINING_TESTED) -> AnalysisSettings:
    """How a report (a trained run's or the pretrained lens's) was computed."""
    return AnalysisSettings(punct_edges=punct_edges, bootstrap_resamples=resamples, bootstrap_seed=seed,
                            correction=CORRECTION, alpha=ALPHA, min_rows_for_verdict=MIN_ROWS_FOR_VERDICT,
                            best_head_chosen_on=chosen_on, offsets_chosen_on=chosen_on,
                            relation_test=RELATION_TEST, training_verdict=training_verdict)


def training_verdict(before: RowScores | None, rows_train: bool) -> str:
    """What ``changed_by_training`` tests for these rows, or why it does not apply."""
    if not rows_train:
        return ROWS_FIXED
    return NO_UNTRAINED if before is None else TRAINING_TESTED


def attention_summary(rows: RowScores, boot: Bootstrap) -> AttentionSummary:
    """Head-averaged entropy, alignment, mass and self share with intervals; a per-head table."""
    estimates = {}
    for name, field in FIELDS.items():
        per_row = np.nanmean(getattr(rows, field).astype(float), axis=1)  # [N]: mean over heads
        estimates[name] = boot.estimate(np.nan_to_num(per_row), np.isfinite(per_row))
    per_head = {name: cast(list, clean(np.nanmean(getattr(rows, field).astype(float), axis=0).tolist()))
                for name, field in FIELDS.items()}
    return AttentionSummary(**estimates, per_head=per_head, rows=len(rows.sentence))


def best_head(dev: RowScores | None, direction: str, relation: int, fallback: int) -> int:
    """The head that hits this relation most often on dev (Clark et al.); ``fallback`` without dev rows."""
    if dev is None:
        return fallback
    where = relation_rows(dev, direction, relation)
    if not where.any():
        return fallback
    return int(model_hits(dev, direction, relation, where).mean(0).argmax())


def relation_entry(before: RowScores | None, after: RowScores, dev: RowScores | None, boot: Bootstrap,
                   direction: str, relation: int, fallback_head: int,
                   rows_train: bool = True) -> RelationEntry:
    """One relation in one direction, with both raw p-values; ``p_value_training`` is None without
    ``before`` (a pretrained model: no untrained twin is run) or where the rows cannot train."""
    where = relation_rows(after, direction, relation)
    hits = model_hits(after, direction, relation, where)  # [n, H]
    untrained = None if before is None else model_hits(before, direction, relation, where)
    chosen_on = after if dev is None else dev  # choose on dev, score on test
    offset = most_frequent_relation_offset(chosen_on, direction, relation)
    offset_hit = relation_offset_hits(after, direction, relation, where, offset)
    head = best_head(dev, direction, relation, fallback_head)
    per_row = np.zeros(len(where))
    per_row[where] = hits.mean(1)  # head-averaged, on the relation's rows
    sentence = after.sentence[where]
    link_weight, offset_weight = best_head_weights(after, direction, relation, where, head, offset)
    p_value = clustered_greater(hits[:, head], offset_hit, sentence)
    p_training = (clustered_greater(hits[:, head], untrained[:, head], sentence)
                  if untrained is not None and rows_train else None)
    return RelationEntry(n=int(where.sum()), before=None if untrained is None else float(untrained.mean()),
                         after=boot.estimate(per_row, where),
                         after_per_head=clean(hits.mean(0).tolist()),  # type: ignore[arg-type]
                         best_offset=float(offset_hit.mean()),
                         best_offset_name=None if offset is None else f"{offset:+d}",
                         best_head=head, best_head_after=head_estimate(boot, hits[:, head], where),
                         p_value=p_value, p_value_training=p_training,
                         best_head_weight=(Estimate(None) if link_weight is None
                                           else head_estimate(boot, link_weight, where)),
                         best_head_offset_weight=offset_weight)


def best_head_weights(rows: RowScores, direction: str, relation: int, where: np.ndarray, head: int,
                      offset: int | None) -> tuple[np.ndarray | None, float | None]:
    """Weights beside hit rates, for one head on a relation's rows: its weight on the relation's gold
    link in each row ([n]; to_dependent: summed over the row's dependents of that relation) and its
    mean weight on the word at ``offset`` (None where the rows kept no weights or the offset is
    past ``OFFSET_REACH``)."""
    if not rows.has_weights:
        return None, None
    if direction == "to_head":
        link = rows.head_weight[where, head].astype(float)
    else:
        per_row = np.zeros(len(rows.sentence))
        keep = rows.dep_rel == relation
        np.add.at(per_row, rows.dep_row[keep], rows.dep_weight[keep, head])
        link = per_row[where]
    reach = rows.offset_weight.shape[-1] // 2
    if offset is None or abs(offset) > reach:
        return link, None
    return link, float(rows.offset_weight[where, head, offset + reach].astype(float).mean())


def head_estimate(boot: Bootstrap, head_hits: np.ndarray, where: np.ndarray) -> Estimate:
    """One head's hit rate on the relation's rows with its bootstrap interval over sentences."""
    per_row = np.zeros(len(where))
    per_row[where] = head_hits
    return boot.estimate(per_row, where)


def relation_tables(before: RowScores | None, after: RowScores, dev: RowScores | None, boot: Bootstrap,
                    relations: list[str], rows_train: bool = True) -> dict[str, dict[str, RelationEntry]]:
    """Both directions' tables, with both verdicts: each family BH-adjusted over both tables at once."""
    per_head = np.nanmean(dev.aligned, axis=0) if dev is not None else np.nanmean(after.aligned, axis=0)
    fallback = int(np.argmax(per_head))  # the best head overall, for relations absent from dev
    tables: dict[str, dict[str, RelationEntry]] = {}
    for key, direction in (("per_relation", "to_head"), ("per_relation_to_dependent", "to_dependent")):
        tables[key] = {name: relation_entry(before, after, dev, boot, direction, r, fallback, rows_train)
                       for r, name in enumerate(relations) if relation_rows(after, direction, r).any()}
    entries = [e for table in tables.values() for e in table.values() if e.n >= MIN_ROWS_FOR_VERDICT]
    training = [e for e in entries if e.p_value_training is not None]
    for entry, p in zip(entries, adjust([cast(float, e.p_value) for e in entries])):
        entry.p_adjusted, entry.beats_position = p, bool(p < ALPHA)
    for entry, p in zip(training, adjust([cast(float, e.p_value_training) for e in training])):
        entry.p_adjusted_training, entry.changed_by_training = p, bool(p < ALPHA)
    return tables


def build_report(before: RowScores, after: RowScores, dev: RowScores | None, *, relations: list[str],
                 baselines: dict | None = None, run: dict | None = None, punct_edges: bool = False,
                 resamples: int = 1000, seed: int = 0, class_names: list[str] | None = None,
                 rows_train: bool = True) -> Report:
    """The report (its parts and JSON keys: ``report_schema``, docs/report.md), without the
    interventions and the effective block (``report.assemble_report`` adds them); ``rows_train``
    False: the attention rows are fixed (no ``changed_by_training`` verdict)."""
    if len(before.sentence) != len(after.sentence) or (before.sentence != after.sentence).any():
        raise ValueError("the before and after rows must be the same rows of the same split")
    boot = Bootstrap(after.sentence, resamples, seed)
    entropy_change = np.nanmean(after.entropy, 1) - np.nanmean(before.entropy, 1)
    sentence, predicted, label = after.classified()  # every target, one-word sentences included
    settings = analysis_settings(punct_edges, resamples, seed, chosen_on="dev" if dev is not None else "test",
                                 training_verdict=training_verdict(before, rows_train))
    return Report(
        run=clean(run or {}),  # type: ignore[arg-type]
        analysis=settings,
        test=classification(predicted, label, Bootstrap(sentence, resamples, seed), class_names),
        baselines=clean(baselines or {}),  # type: ignore[arg-type]
        before=attention_summary(before, boot),
        entropy_change=boot.estimate(np.nan_to_num(entropy_change), np.isfinite(entropy_change)),
        weights=AttentionBlock(**attention_block(before, after, dev, boot, relations, rows_train)),
        entropy_by_class=(entropy_by_class(after, boot) if class_names in (None, ["function", "content"])
                          else {}),
    )


def attention_block(before: RowScores | None, after: RowScores, dev: RowScores | None, boot: Bootstrap,
                    relations: list[str], rows_train: bool = True) -> dict:
    """The fields of an ``AttentionBlock``: where the trained maps look (of the weights, or of the
    effective attention)."""
    offsets = offset_alignment(after)
    best = best_offset(after if dev is None else dev)  # choose on dev, score on test
    best_hits = offset_hits(after, best)
    margin = np.nanmean(after.aligned.astype(float), 1) - best_hits
    return {
        "after": attention_summary(after, boot),
        "alignment_margin": boot.estimate(margin),
        "offset_baselines": {f"{o:+d}": clean(v) for o, v in offsets.items()},
        "best_offset_name": f"{best:+d}",
        "best_offset": boot.estimate(best_hits.astype(float)),
        **relation_tables(before, after, dev, boot, relations, rows_train),
    }


def entropy_by_class(rows: RowScores, boot: Bootstrap, class_names: list[str] | None = None) -> dict:
    """The notebook's "function words' attention is more diffuse, content words' more focused", as
    a number: the head-averaged entropy of a target's row by class (content_function: 1 = content,
    0 = function) and the difference function − content, paired over the same resampled sentences."""
    entropy = np.nan_to_num(np.nanmean(rows.entropy.astype(float), axis=1))  # [N]
    valid = np.isfinite(np.nanmean(rows.entropy.astype(float), axis=1))
    content, function = valid & (rows.label == 1), valid & (rows.label == 0)
    if not content.any() or not function.any():
        return {}

    def difference(e_function: np.ndarray, n_function: np.ndarray, e_content: np.ndarray,
                   n_content: np.ndarray) -> np.ndarray:
        return e_function / n_function - e_content / n_content

    value, ci = boot.statistic(difference, entropy * function, function.astype(float), entropy * content,
                               content.astype(float))
    names = class_names or ["function", "content"]
    return {names[1]: boot.estimate(entropy, content), names[0]: boot.estimate(entropy, function),
            f"{names[0]}_minus_{names[1]}": Estimate.of(value, ci)}


def effective_block(before: RowScores, after: RowScores, dev: RowScores | None, relations: list[str],
                    resamples: int, seed: int = 0, before_is: str = "effective",
                    rows_train: bool = True) -> EffectiveBlock:
    """The report's ``effective`` block: ``attention_block`` of the effective attention (the same
    rows and bootstrap resamples as the weights')."""
    boot = Bootstrap(after.sentence, resamples, seed)
    return EffectiveBlock(**attention_block(before, after, dev, boot, relations, rows_train),
                          before_is=before_is)

