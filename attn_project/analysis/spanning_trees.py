"""Attachment scores of the maximum spanning tree over a head's word rows (Htut et al. 2019): each
sentence's rows symmetrised (w_ij + w_ji), the maximum spanning tree drawn (scipy), and its
undirected attachment score — the share of the sentence's n − 1 gold edges (a word and its head)
that the tree holds. Beside it, the right-branching chain (each word joined to the next): the
positional tree the scores are read against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import minimum_spanning_tree
from torch import Tensor

from attn_project.data.conllu import Sentence


def gold_edges(sentence: Sentence) -> set[tuple[int, int]]:
    """The sentence's undirected dependency edges (the root's none)."""
    return {(min(i, h), max(i, h)) for i, h in enumerate(sentence.heads) if h >= 0}


def tree_edges(weights: np.ndarray) -> set[tuple[int, int]]:
    """The maximum spanning tree of the symmetrised rows [n, n], as undirected edges."""
    symmetric = weights + weights.T  # [n, n]
    cost = symmetric.max() + 1.0 - symmetric  # positive: the minimum tree of this is the maximum tree
    np.fill_diagonal(cost, 0.0)
    tree = minimum_spanning_tree(csr_matrix(np.triu(cost, 1))).tocoo()
    # n − 1 edges: every off-diagonal cost is > 0, so the graph is connected
    return {(min(int(a), int(b)), max(int(a), int(b))) for a, b in zip(tree.row, tree.col, strict=True)}


def attachment(edges: set[tuple[int, int]], gold: set[tuple[int, int]]) -> float:
    return len(edges & gold) / max(len(gold), 1)


def head_attachment(samples: Mapping[int, Tensor],
                    sentences: Sequence[Sentence]) -> tuple[np.ndarray, np.ndarray]:
    """(sentence index [S], undirected attachment score of each head's tree [S, L·H]) over the
    sentences of ``samples`` (index → word rows [L·H, n, n]) with at least two words."""
    index, scores = [], []
    for i, rows in sorted(samples.items()):
        sentence = sentences[i]
        if len(sentence) < 2:
            continue
        gold = gold_edges(sentence)
        weights = rows.numpy().astype(np.float64)
        scores.append([attachment(tree_edges(w), gold) for w in weights])
        index.append(i)
    return np.array(index, dtype=np.int64), np.array(scores, dtype=np.float64).reshape(len(index), -1)


def chain_attachment(sentences: Sequence[Sentence], index: np.ndarray) -> np.ndarray:
    """[S]: the right-branching chain's undirected attachment score on the same sentences."""
    out = []
    for i in index.tolist():
        n = len(sentences[i])
        out.append(attachment({(k, k + 1) for k in range(n - 1)}, gold_edges(sentences[i])))
    return np.array(out, dtype=np.float64)
