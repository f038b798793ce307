"""A stronger yardstick than position: a head that always looks at the nearest verb is not a parser.
Per relation and direction, the best *category rule* — "the nearest word of UPOS X to the left", "…
to the right", or "the root" — chosen on dev and scored on test on the same rows as the heads, and a
second verdict: *the best head beats the category rule* (one-sided, sentence-clustered, Benjamini–
Hochberg over the entries, as ``beats_position`` is tested).

A causal model sees only its left context, so its rules do too (left rules, and the root where it
precedes the word).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from attn_project.analysis.position import model_hits, relation_rows
from attn_project.analysis.report_schema import AttentionBlock
from attn_project.analysis.rows import RowScores
from attn_project.analysis.significance import ALPHA, MIN_ROWS_FOR_VERDICT, adjust, clustered_greater
from attn_project.data.conllu import Sentence

ROOT = "the root"


def rule_names(upos_tags: Sequence[str], causal: bool) -> list[str]:
    sides = ("left",) if causal else ("left", "right")
    return [f"nearest {tag} to the {side}" for tag in upos_tags for side in sides] + [ROOT]


@dataclass
class RuleTargets:
    """Each rule's predicted word for every word of every sentence of a split: [R, W] per sentence
    (-1 where the rule names no word)."""

    sentences: Sequence[Sentence]
    upos_tags: list[str]
    causal: bool

    def __post_init__(self) -> None:
        self.names = rule_names(self.upos_tags, self.causal)
        self.cache: dict[int, np.ndarray] = {}

    def of(self, index: int) -> np.ndarray:
        if index not in self.cache:
            self.cache[index] = self.compute(self.sentences[index])
        return self.cache[index]

    def compute(self, sentence: Sentence) -> np.ndarray:
        n = len(sentence)
        out = np.full((len(self.names), n), -1, dtype=np.int64)
        upos = np.array(sentence.upos)
        row = 0
        for tag in self.upos_tags:
            where = np.flatnonzero(upos == tag)
            for side in (("left",) if self.causal else ("left", "right")):
                for i in range(n):
                    candidates = where[where < i] if side == "left" else where[where > i]
                    if len(candidates):
                        out[row, i] = candidates[-1] if side == "left" else candidates[0]
                row += 1
        root = sentence.heads.index(-1) if -1 in sentence.heads else -1
        for i in range(n):
            if root >= 0 and root != i and (root < i or not self.causal):
                out[row, i] = root
        return out


def rule_hits(rows: RowScores, targets: RuleTargets, direction: str, relation: str, where: np.ndarray,
              punct_edges: bool) -> np.ndarray:
    """[n, R]: on the chosen rows, each rule's word is the row's head (to_head) or a dependent with
    this relation (to_dependent); links to or from PUNCT do not count unless ``punct_edges``."""
    out = []
    for s, i in zip(rows.sentence[where].tolist(), rows.position[where].tolist(), strict=True):
        sentence, predicted = targets.sentences[s], targets.of(s)[:, i]  # [R]
        named = predicted >= 0
        j = np.where(named, predicted, 0)
        heads, deprels = np.array(sentence.heads), np.array(sentence.deprels)
        counted = np.ones(len(sentence), bool) if punct_edges else np.array(sentence.upos) != "PUNCT"
        if direction == "to_head":
            hit = named & (j == heads[i]) & counted[j]
        else:
            hit = named & (heads[j] == i) & (deprels[j] == relation) & counted[j]
        out.append(hit)
    return np.array(out, dtype=bool).reshape(-1, len(targets.names))


@dataclass
class CategoryEntry:
    rule: str | None
    category_acc: float | None
    p_value: float | None = None
    p_adjusted: float | None = None
    beats_category: bool | None = None


def category_table(test: RowScores, dev: RowScores, test_targets: RuleTargets, dev_targets: RuleTargets,
                   block: AttentionBlock, relations: list[str],
                   punct_edges: bool = False) -> dict[tuple[str, str], CategoryEntry]:
    """(relation, direction) → the dev-chosen rule's test accuracy and the corrected verdict that the
    block's best head (chosen on dev) beats it on the same test rows."""
    if not len(test.position) or not len(dev.position):
        raise ValueError("the rows carry no word positions (rows scored before positions were kept)")
    table: dict[tuple[str, str], CategoryEntry] = {}
    for key, direction in (("per_relation", "to_head"), ("per_relation_to_dependent", "to_dependent")):
        for name, entry in getattr(block, key).items():
            r = relations.index(name)
            dev_where, where = relation_rows(dev, direction, r), relation_rows(test, direction, r)
            if not dev_where.any() or entry.best_head is None:
                table[(name, direction)] = CategoryEntry(None, None)
                continue
            on_dev = rule_hits(dev, dev_targets, direction, name, dev_where, punct_edges)  # [n_dev, R]
            chosen = int(on_dev.mean(0).argmax())
            rule = rule_hits(test, test_targets, direction, name, where, punct_edges)[:, chosen]
            head = model_hits(test, direction, r, where)[:, entry.best_head]
            p = (clustered_greater(head, rule, test.sentence[where]) if where.sum() >= MIN_ROWS_FOR_VERDICT
                 else None)
            table[(name, direction)] = CategoryEntry(test_targets.names[chosen], float(rule.mean()), p)
    tested = [e for e in table.values() if e.p_value is not None]
    for e, p in zip(tested, adjust([e.p_value for e in tested if e.p_value is not None]), strict=True):
        e.p_adjusted, e.beats_category = p, bool(p < ALPHA)
    return table
