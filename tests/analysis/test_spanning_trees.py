"""The maximum spanning tree over a head's rows: a head on the gold tree recovers it; a head on the
next word is the right-branching chain."""

import numpy as np
import pytest
import torch

from attn_project.analysis.spanning_trees import chain_attachment, gold_edges, head_attachment, tree_edges
from attn_project.data.conllu import Sentence

SENTENCE = Sentence(["the", "dog", "saw", "a", "cat", "today"],
                    ["DET", "NOUN", "VERB", "DET", "NOUN", "NOUN"], [1, 2, -1, 4, 2, 2],
                    ["det", "nsubj", "root", "det", "obj", "obl"])


def test_a_head_on_the_gold_tree_recovers_it_and_one_on_the_next_word_is_the_chain():
    n = len(SENTENCE)
    on_gold = np.full((n, n), 0.01)
    for i, h in enumerate(SENTENCE.heads):
        if h >= 0:
            on_gold[i, h] = 1.0
    on_next = np.full((n, n), 0.01)
    for i in range(n - 1):
        on_next[i, i + 1] = 1.0
    assert tree_edges(on_gold) == gold_edges(SENTENCE)
    assert tree_edges(on_next) == {(k, k + 1) for k in range(n - 1)}
    rows = torch.tensor(np.stack([on_gold, on_next]), dtype=torch.float32)  # two heads [2, n, n]
    index, scores = head_attachment({0: rows}, [SENTENCE])
    chain = chain_attachment([SENTENCE], index)
    assert index.tolist() == [0] and scores[0, 0] == 1.0
    assert scores[0, 1] == pytest.approx(chain[0]) == pytest.approx(3 / 5)  # the–dog, dog–saw, a–cat adjacent
