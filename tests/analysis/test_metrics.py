"""Attention metrics, fixed offsets and the report's statistics on hand-made inputs with known answers."""

import math

import numpy as np
import pytest
import torch

from attn_project.analysis.metrics import most_attended_other, normalised_entropy
from attn_project.analysis.position import offset_alignment
from attn_project.analysis.report_numbers import build_report
from attn_project.analysis.rows import collect, summary
from attn_project.analysis.significance import Bootstrap, classification

# "the dog barks ." : the ← dog (det), dog ← barks (nsubj), barks = root, . ← barks (punct)
HEADS = torch.tensor([[1, 2, -1, 2]])
RELS_NAMES = ["det", "nsubj", "root", "punct"]
RELS = torch.tensor([[0, 1, 2, 3]])
LENGTHS = torch.tensor([4])
LABELS = torch.tensor([[0, 1, 1, -100]])  # "." is never a target
PUNCT = torch.tensor([[False, False, False, True]])

RELATIONS = ["root", "near", "far"]


def batch(weights, index=0, **gold):
    return {"weights": weights, "lengths": gold.get("lengths", LENGTHS), "heads": gold.get("heads", HEADS),
            "rels": gold.get("rels", RELS), "punct": gold.get("punct", PUNCT),
            "labels": gold.get("labels", LABELS), "index": torch.tensor([index])}


def one_hot_map(targets_of_rows):
    weights = torch.zeros(1, 1, 4, 4)
    for i, j in enumerate(targets_of_rows):
        weights[0, 0, i, j] = 1.0
    return weights


def test_entropy_one_hot_is_zero_and_uniform_is_one():
    assert torch.allclose(normalised_entropy(torch.eye(4)), torch.zeros(4))
    assert torch.allclose(normalised_entropy(torch.full((4, 4), 0.25)), torch.ones(4))


def test_entropy_ignores_padding_and_is_nan_for_length_one():
    weights = torch.zeros(2, 1, 3, 3)
    weights[0, 0, :2, :2] = 0.5  # sentence of length 2, uniform over its 2 real tokens
    weights[1, 0, 0, 0] = 1.0  # sentence of length 1
    entropy = normalised_entropy(weights, torch.tensor([2, 1]))
    assert torch.allclose(entropy[0, 0, :2], torch.ones(2))
    assert torch.isnan(entropy[0, 0, 2])  # padding row
    assert torch.isnan(entropy[1, 0]).all()  # T = 1: undefined


def test_ties_go_to_leftmost_and_self_is_excluded():
    weights = torch.tensor([[[[0.1, 0.3, 0.3, 0.3],
                              [0.2, 0.6, 0.1, 0.1],
                              [0.0, 0.0, 1.0, 0.0],
                              [0.25, 0.25, 0.25, 0.25]]]])
    assert most_attended_other(weights, LENGTHS).tolist() == [[[1, 0, 0, 0]]]


def test_alignment_per_relation_direction_and_punctuation():
    # the→dog (its head), dog→the (its dependent), barks→. (a dependent, but punctuation)
    weights = one_hot_map([1, 0, 3, 0])
    with_punct = collect([batch(weights)], punct_edges=True)
    without = collect([batch(weights)], punct_edges=False)
    assert with_punct.aligned[:, 0].tolist() == [True, True, True]
    assert without.aligned[:, 0].tolist() == [True, True, False]  # "." is no sign of syntax
    assert summary(with_punct)["dep_alignment"] == 1.0
    assert summary(without)["dep_alignment"] == pytest.approx(2 / 3)
    assert summary(with_punct)["dep_mass"] == 1.0
    assert with_punct.to_head[:, 0].tolist() == [True, False, False]  # dog looked at a dependent
    assert with_punct.relation.tolist() == [0, 1, -1]  # barks is the root: no head to find
    assert with_punct.dependent_rel[:, 0].tolist() == [-1, 0, 3]  # dog → the (det), barks → . (punct)
    assert summary(with_punct)["rows"] == 3


def test_mass_entropy_and_self_share():
    weights = one_hot_map([3, 3, 0, 0]) * 0.5 + one_hot_map([1, 2, 1, 0]) * 0.5
    weights[0, 0, 2] = torch.tensor([0.25, 0.25, 0.5, 0.0])  # barks: half on itself
    rows = collect([batch(weights)], punct_edges=True)
    # argmax ties → leftmost: the→1 (head ✓), dog→2 (head ✓), barks→0 (not linked ✗)
    assert rows.aligned[:, 0].tolist() == [True, True, False]
    assert rows.mass[:, 0].tolist() == pytest.approx([0.5, 0.5, 0.25])  # barks: on dog (its nsubj)
    assert rows.self_share[:, 0].tolist() == pytest.approx([0.0, 0.0, 0.5])
    assert rows.entropy[0, 0] == pytest.approx(math.log(2) / math.log(4))


def test_offsets_cover_every_distance_and_miss_off_the_sentence():
    rows = collect([batch(one_hot_map([1, 0, 3, 0]))], punct_edges=True)
    offsets = offset_alignment(rows)
    # the: +1 (dog); dog: -1 (the), +1 (barks); barks: -1 (dog), +1 (.)
    assert offsets == {-1: pytest.approx(2 / 3), 1: pytest.approx(1.0)}
    rows = collect([batch(one_hot_map([1, 0, 3, 0]))], punct_edges=False)
    assert offset_alignment(rows)[1] == pytest.approx(2 / 3)  # barks → . no longer counts


def test_per_head_kept_apart():
    weights = torch.cat([one_hot_map([1, 2, 3, 0]), one_hot_map([3, 3, 0, 0])], dim=1)
    rows = collect([batch(weights)], punct_edges=True)
    assert rows.aligned.mean(0).tolist() == [1.0, 0.0]  # head 1: the→., dog→., barks→the


def test_bootstrap_interval_contains_its_estimate_and_shrinks_with_data():
    rng = np.random.default_rng(0)
    small, large = (rng.random(n) < 0.3 for n in (100, 10_000))
    for values in (small, large):
        boot = Bootstrap(np.arange(len(values)), resamples=1000, seed=1)
        mean, (lo, hi) = boot.mean(values.astype(float))
        assert lo <= mean <= hi and mean == pytest.approx(values.mean())
    width = [Bootstrap(np.arange(len(v)), seed=1).mean(v.astype(float))[1] for v in (small, large)]
    assert width[1][1] - width[1][0] < (width[0][1] - width[0][0]) / 5


def test_classification_metrics_match_scikit_learn():
    from sklearn.metrics import balanced_accuracy_score, f1_score

    rng = np.random.default_rng(0)
    label = (rng.random(500) < 0.8).astype(int)
    predicted = np.where(rng.random(500) < 0.7, label, 1 - label)
    out = classification(predicted, label, Bootstrap(np.arange(500) // 5, seed=0)).to_json()
    assert out["acc"] == pytest.approx((predicted == label).mean())
    assert out["f1"] == pytest.approx(f1_score(label, predicted))
    assert out["balanced_acc"] == pytest.approx(balanced_accuracy_score(label, predicted))
    assert out["macro_f1"] == pytest.approx(f1_score(label, predicted, average="macro"))
    assert out["content_share"] == pytest.approx(label.mean())
    for key in ("acc", "f1", "balanced_acc", "macro_f1"):
        assert out[f"{key}_ci95"][0] <= out[key] <= out[f"{key}_ci95"][1]


def synthetic(num_sentences: int, attend, seed: int = 0):
    """Sentences of 8 words: word 6 is a 'far' dependent of word 1 (head at distance 5); every
    other word hangs off its neighbour. ``attend(i, heads)`` says where row i looks."""
    t = 8
    heads = torch.tensor([[1, -1, 1, 2, 3, 4, 1, 6]] * num_sentences)  # word 6 → head 1 (offset -5)
    rels = torch.tensor([[1, 0, 1, 1, 1, 1, 2, 1]] * num_sentences)  # 0 root, 1 near, 2 far
    gen = torch.Generator().manual_seed(seed)
    batches = []
    for s in range(num_sentences):
        weights = torch.full((1, 1, t, t), 0.01)
        for i in range(t):
            weights[0, 0, i, attend(i, heads[s], gen)] = 1.0
        weights = weights / weights.sum(-1, keepdim=True)
        batches.append({"weights": weights, "lengths": torch.tensor([t]), "heads": heads[s:s + 1],
                        "rels": rels[s:s + 1], "punct": torch.zeros(1, t, dtype=torch.bool),
                        "labels": torch.ones(1, t, dtype=torch.long), "index": torch.tensor([s]),
                        "logits": torch.zeros(1, t, 2)})
    return collect(batches, punct_edges=True)


def neighbour(i, heads, gen):
    return i - 1 if i > 0 else 1


def planted(i, heads, gen):
    return 1 if i == 6 else neighbour(i, heads, gen)  # the far word finds its head 5 to the left


def shuffled(i, heads, gen):
    return int(torch.randint(0, 8, (1,), generator=gen)) if i == 6 else neighbour(i, heads, gen)


def report_of(before, after):
    return build_report(before, after, None, relations=RELATIONS, punct_edges=True, resamples=200).to_json()


def report_for(after, n):
    return report_of(synthetic(n, neighbour), after)


def test_a_planted_relation_beats_position_and_a_shuffled_one_does_not():
    planted_far = report_for(synthetic(60, planted), 60)["per_relation"]["far"]
    assert planted_far["n"] == 60 and planted_far["after"] == 1.0 and planted_far["best_offset"] == 1.0
    # the best offset (-5) hits every far row too: equal, so not *better* than position
    assert planted_far["beats_position"] is False
    shuffled_far = report_for(synthetic(60, shuffled, seed=3), 60)["per_relation"]["far"]
    assert shuffled_far["beats_position"] is False and shuffled_far["p_adjusted"] >= 0.05


def test_planted_relation_against_a_position_that_varies_is_significant():
    """Far words at distances 3–5: no single offset finds them all; the planted head does."""
    def varied(num_sentences):
        t, batches_before, batches_after = 8, [], []
        for s in range(num_sentences):
            far = 3 + s % 3  # the far word's head is 3, 4 or 5 words to the left
            heads = torch.tensor([[1, -1, 1, 2, 3, 4, 5, 6]])
            heads[0, 1 + far] = 1
            rels = torch.tensor([[1, 0, 1, 1, 1, 1, 1, 1]])
            rels[0, 1 + far] = 2
            for store, looks_at_head in ((batches_before, False), (batches_after, True)):
                weights = torch.full((1, 1, t, t), 0.01)
                for i in range(t):
                    weights[0, 0, i, 1 if (looks_at_head and i == 1 + far) else (i - 1 if i else 1)] = 1.0
                store.append({"weights": weights / weights.sum(-1, keepdim=True),
                              "lengths": torch.tensor([t]), "heads": heads, "rels": rels,
                              "punct": torch.zeros(1, t, dtype=torch.bool),
                              "labels": torch.ones(1, t, dtype=torch.long), "index": torch.tensor([s]),
                              "logits": torch.zeros(1, t, 2)})
        return collect(batches_before, True), collect(batches_after, True)

    before, after = varied(90)
    far = report_of(before, after)["per_relation"]["far"]
    assert far["after"] == 1.0 and far["best_offset"] == pytest.approx(1 / 3, abs=0.01)
    assert far["beats_position"] is True and far["p_adjusted"] < 0.05
    before, after = varied(45)  # the same effect on too few rows: no verdict at all
    far = report_of(before, after)["per_relation"]["far"]
    assert far["n"] == 45 and far["beats_position"] is None and far["p_adjusted"] is None


def test_verdicts_only_with_enough_rows_and_a_small_adjusted_p():
    report = report_for(synthetic(70, shuffled, seed=5), 70)
    for table in ("per_relation", "per_relation_to_dependent"):
        for entry in report[table].values():
            if entry["n"] < 50:
                assert entry["beats_position"] is None
            elif entry["beats_position"]:
                assert entry["p_adjusted"] < 0.05
            else:
                assert entry["beats_position"] is False
