"""Fixed-offset attention ("always look k words away"), searched over every offset a sentence
allows and scored on the same rows and gold links as the model (after Clark et al. 2019).

Choose on dev, score on test: the best offset (overall and per relation) is the argmax over the
dev split's rows; its hits are then counted on the test rows the model is scored on."""

from __future__ import annotations

import numpy as np

from attn_project.analysis.rows import RowScores


def offset_alignment(rows: RowScores) -> dict[int, float]:
    """For every offset from the farthest link on the left to the farthest on the right: the share
    of rows whose gold links include the word at that offset (off the sentence: a miss)."""
    offsets = rows.link_offset
    if not len(offsets):
        return {-1: 0.0, 1: 0.0}
    low, high = int(offsets.min()), int(offsets.max())
    counts = np.bincount(offsets - low, minlength=high - low + 1)  # each (row, offset) once
    return {o: float(counts[o - low] / len(rows.sentence)) for o in range(low, high + 1) if o != 0}


def best_offset(rows: RowScores) -> int:
    """The fixed offset whose word is most often a gold link of the row (ties: the first). The
    report reads it from the **dev** rows and scores it on test (``offset_hits``)."""
    alignment = offset_alignment(rows)
    return max(alignment, key=lambda offset: alignment[offset])


def offset_hits(rows: RowScores, offset: int) -> np.ndarray:
    """[N]: the word at ``offset`` is one of the row's gold links."""
    hits = np.zeros(len(rows.sentence), dtype=bool)
    hits[rows.link_row[rows.link_offset == offset]] = True
    return hits


def relation_rows(rows: RowScores, direction: str, relation: int) -> np.ndarray:
    """[N]: rows that can be scored for this relation (to_head: the row's own relation;
    to_dependent: the row has a dependent with it)."""
    if direction == "to_head":
        return rows.relation == relation
    where = np.zeros(len(rows.sentence), dtype=bool)
    where[rows.dep_row[rows.dep_rel == relation]] = True
    return where


def model_hits(rows: RowScores, direction: str, relation: int, where: np.ndarray) -> np.ndarray:
    """[n, H]: per chosen row and head, the attended word is the head / a dependent of this relation."""
    if direction == "to_head":
        return rows.to_head[where]
    return rows.dependent_rel[where] == relation


def relation_links(rows: RowScores, direction: str, relation: int,
                   where: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, offset) of every gold link of this relation on the chosen rows, each pair once:
    to_head, the row's head; to_dependent, its dependents with this relation."""
    if direction == "to_head":
        row, offset = np.flatnonzero(where), rows.head_offset[where]
    else:
        keep = (rows.dep_rel == relation) & where[rows.dep_row]
        row, offset = rows.dep_row[keep], rows.dep_offset[keep]
    if not len(row):
        return row, offset
    row, offset = np.unique(np.stack([row, offset]), axis=1)  # each (row, offset) once
    return row, offset


def most_frequent_relation_offset(rows: RowScores, direction: str, relation: int) -> int | None:
    """The offset that hits most rows of this relation (ties: the smallest); None without rows.
    The report reads it from the **dev** rows and scores it on test (``relation_offset_hits``)."""
    _, offset = relation_links(rows, direction, relation, relation_rows(rows, direction, relation))
    if not len(offset):
        return None
    values, counts = np.unique(offset, return_counts=True)
    return int(values[counts.argmax()])


def relation_offset_hits(rows: RowScores, direction: str, relation: int, where: np.ndarray,
                         offset: int | None) -> np.ndarray:
    """[n]: on the chosen rows, the word at ``offset`` is a gold link of this relation (None: no hit)."""
    if offset is None:
        return np.zeros(int(where.sum()), bool)
    row, link_offset = relation_links(rows, direction, relation, where)
    hits = np.zeros(len(rows.sentence), dtype=bool)
    hits[row[link_offset == offset]] = True
    return hits[where]
