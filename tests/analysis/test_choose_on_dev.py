"""Offsets chosen on dev and scored on test, the per-relation offset on a hand count, and the
sentence-level test against a brute-force bootstrap over sentences."""

import numpy as np
import pytest
import torch
from scipy import stats

from attn_project.analysis.position import most_frequent_relation_offset, relation_offset_hits, relation_rows
from attn_project.analysis.report_numbers import build_report
from attn_project.analysis.rows import collect
from attn_project.analysis.significance import clustered_greater

RELATIONS = ["root", "near", "far"]


def rows_with_far_heads(far_distances: list[int], looks_at_head: bool = False):
    """One 8-word sentence per entry: every word hangs off its left neighbour, except the 'far'
    word, whose head (word 1) is ``distance`` words to its left. Rows look at their left neighbour,
    or (``looks_at_head``) the far word looks at its head."""
    t, batches = 8, []
    for s, far in enumerate(far_distances):
        heads = torch.tensor([[1, -1, 1, 2, 3, 4, 5, 6]])
        rels = torch.tensor([[1, 0, 1, 1, 1, 1, 1, 1]])
        heads[0, 1 + far], rels[0, 1 + far] = 1, 2
        weights = torch.full((1, 1, t, t), 0.01)
        for i in range(t):
            weights[0, 0, i, 1 if (looks_at_head and i == 1 + far) else (i - 1 if i else 1)] = 1.0
        batches.append({"weights": weights / weights.sum(-1, keepdim=True), "lengths": torch.tensor([t]),
                        "heads": heads, "rels": rels, "punct": torch.zeros(1, t, dtype=torch.bool),
                        "labels": torch.ones(1, t, dtype=torch.long), "index": torch.tensor([s]),
                        "logits": torch.zeros(1, t, 2)})
    return collect(batches, punct_edges=True)


def test_the_relation_offset_is_the_most_frequent_one_on_a_hand_count():
    # far heads at -2 (twice), -3 (five times), -4 (three times): the most frequent is -3, the
    # least frequent -2 (a bug that took the argmin would say -2)
    rows = rows_with_far_heads([2, 2, 3, 3, 3, 3, 3, 4, 4, 4])
    assert most_frequent_relation_offset(rows, "to_head", 2) == -3
    where = relation_rows(rows, "to_head", 2)
    assert relation_offset_hits(rows, "to_head", 2, where, -3).sum() == 5
    assert relation_offset_hits(rows, "to_head", 2, where, -2).sum() == 2
    # to_dependent: word 1's far dependent, 2 / 3 / 4 to the right
    assert most_frequent_relation_offset(rows, "to_dependent", 2) == 3


def test_offsets_are_chosen_on_dev_and_never_read_the_test_rows():
    """Poisoned test split: every far head lies 4 to the left on test, 2 on dev. An offset chosen
    on test would score 1.0 on the far rows; chosen on dev it is -2, which never hits on test."""
    dev, test = rows_with_far_heads([2] * 60), rows_with_far_heads([4] * 60, looks_at_head=True)
    before = rows_with_far_heads([4] * 60)
    report = build_report(before, test, dev, relations=RELATIONS, punct_edges=True, resamples=50).to_json()
    far = report["per_relation"]["far"]
    assert far["best_offset_name"] == "-2" and far["best_offset"] == 0.0 and far["after"] == 1.0
    assert far["beats_position"] is True
    assert report["analysis"]["offsets_chosen_on"] == "dev"
    chosen_on_test = build_report(before, test, None, relations=RELATIONS, punct_edges=True,
                                  resamples=50).to_json()
    assert chosen_on_test["per_relation"]["far"]["best_offset_name"] == "-4"
    assert chosen_on_test["analysis"]["offsets_chosen_on"] == "test"
    # the overall best offset: dev's, scored on the test rows
    assert report["best_offset"]["offset"] == chosen_on_test["best_offset"]["offset"] == "-1"


def brute_force_bootstrap(diff: np.ndarray, sentence: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Each resample: draw sentences with replacement, the mean of their rows' differences."""
    rng = np.random.default_rng(seed)
    ids = np.unique(sentence)
    members = {s: diff[sentence == s] for s in ids}
    out = []
    for _ in range(resamples):
        drawn = np.concatenate([members[s] for s in rng.choice(ids, len(ids))])
        out.append(drawn.mean())
    return np.array(out)


def clustered_case(num_sentences: int, effect: float, seed: int):
    """Rows in sentences of 2–9 words whose hits share a sentence-level effect (correlated rows)."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(2, 10, num_sentences)
    sentence = np.repeat(np.arange(num_sentences), sizes)
    sentence_effect = np.repeat(rng.normal(effect, 0.5, num_sentences), sizes)  # shared within a sentence
    hits = rng.random(len(sentence)) < 1 / (1 + np.exp(-sentence_effect))
    other = rng.random(len(sentence)) < 0.5
    return hits, other, sentence


@pytest.mark.parametrize("effect", [0.1, 0.25])
def test_the_sentence_level_test_agrees_with_a_brute_force_bootstrap(effect):
    hits, other, sentence = clustered_case(120, effect, seed=7)
    diff = hits.astype(float) - other
    resampled = brute_force_bootstrap(diff, sentence, 4000, seed=1)
    p = clustered_greater(hits, other, sentence)
    assert p == pytest.approx(float((resampled <= 0).mean()), abs=0.03)
    z = stats.norm.isf(p)  # the test's standard error, read back, against the bootstrap's
    assert diff.mean() / z == pytest.approx(resampled.std(), rel=0.1)


def test_rows_of_one_sentence_are_not_counted_as_independent_draws():
    """Whole sentences agree (every row hits, or none does): rows as independent draws overstate
    the evidence; the clustered test sees 40 sentences, not 400 rows."""
    rng = np.random.default_rng(3)
    sentence = np.repeat(np.arange(40), 10)
    hits = np.repeat(rng.random(40) < 0.6, 10)
    other = np.repeat(rng.random(40) < 0.45, 10)
    naive = stats.ttest_1samp(hits.astype(float) - other, 0, alternative="greater").pvalue
    assert clustered_greater(hits, other, sentence) > 3 * naive


def test_the_sentence_level_test_on_edge_cases():
    sentence = np.array([0, 0, 1, 1])
    assert clustered_greater(np.ones(4, bool), np.zeros(4, bool), sentence) == 0.0  # always better
    assert clustered_greater(np.zeros(4, bool), np.zeros(4, bool), sentence) == 1.0  # never different
    assert clustered_greater(np.zeros(0, bool), np.zeros(0, bool), np.zeros(0, int)) == 1.0
