"""Attention metrics on hand-made matrices with known answers."""

import math

import pytest
import torch

from attn_project.analysis.metrics import (
    AlignmentStats,
    OffsetBaselines,
    most_attended_other,
    normalised_entropy,
)

# "the dog barks ." : the ← dog (det), dog ← barks (nsubj), barks = root, . ← barks (punct)
HEADS = torch.tensor([[1, 2, -1, 2]])
RELS_NAMES = ["det", "nsubj", "root", "punct"]
RELS = torch.tensor([[0, 1, 2, 3]])
LENGTHS = torch.tensor([4])
TARGETS = torch.tensor([[True, True, True, False]])


def test_entropy_one_hot_is_zero_and_uniform_is_one():
    one_hot = torch.eye(4)
    uniform = torch.full((4, 4), 0.25)
    assert torch.allclose(normalised_entropy(one_hot), torch.zeros(4))
    assert torch.allclose(normalised_entropy(uniform), torch.ones(4))


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
    top = most_attended_other(weights, LENGTHS)
    assert top.tolist() == [[[1, 0, 0, 0]]]


def one_hot_map(targets_of_rows):
    weights = torch.zeros(1, 1, 4, 4)
    for i, j in enumerate(targets_of_rows):
        weights[0, 0, i, j] = 1.0
    return weights


def test_alignment_per_relation_and_direction():
    stats = AlignmentStats(RELS_NAMES)
    # the→dog (its head: aligned), dog→the (its dependent: aligned), barks→. (dependent; aligned)
    stats.update(one_hot_map([1, 0, 3, 0]), LENGTHS, HEADS, RELS, TARGETS)
    summary = stats.summary()
    assert summary["dep_alignment"] == 1.0
    assert summary["dep_mass"] == 1.0
    assert summary["to_head"]["det"]["mean"] == 1.0
    assert summary["to_head"]["nsubj"]["mean"] == 0.0  # dog looked at its dependent instead
    assert summary["to_dependent"]["det"]["mean"] == 1.0  # dog → the
    assert summary["to_dependent"]["punct"]["mean"] == 1.0  # barks → .
    assert summary["to_dependent"]["nsubj"]["mean"] == 0.0  # barks did not look at dog
    assert summary["rows"] == 3  # the "." row is not a target


def test_misaligned_rows_and_mass():
    stats = AlignmentStats(RELS_NAMES)
    weights = one_hot_map([3, 3, 0, 0]) * 0.5 + one_hot_map([1, 2, 1, 0]) * 0.5
    stats.update(weights, LENGTHS, HEADS, RELS, TARGETS)
    summary = stats.summary()
    # argmax ties → leftmost: the→1 (head ✓), dog→2 (head ✓), barks→0 (not adjacent ✗)
    assert summary["dep_alignment"] == pytest.approx(2 / 3)
    assert summary["dep_mass"] == pytest.approx((0.5 + 0.5 + 0.5) / 3)
    assert summary["entropy"] == pytest.approx(math.log(2) / math.log(4))


def test_offset_baselines_count_off_sentence_rows_as_misses():
    baselines = OffsetBaselines(RELS_NAMES, offsets=(-1, 1))
    baselines.update(LENGTHS, HEADS, RELS, TARGETS)
    summary = baselines.summary()
    # -1: the→(off) ✗, dog→the ✓ (dependent), barks→dog ✓ (dependent)
    assert summary["-1"]["dep_alignment"] == pytest.approx(2 / 3)
    # +1: the→dog ✓, dog→barks ✓, barks→. ✓
    assert summary["+1"]["dep_alignment"] == pytest.approx(1.0)
    assert summary["-1"]["to_head"]["det"]["mean"] == 0.0


def test_per_head_kept_apart():
    stats = AlignmentStats(RELS_NAMES)
    weights = torch.cat([one_hot_map([1, 2, 3, 0]), one_hot_map([3, 3, 0, 0])], dim=1)
    stats.update(weights, LENGTHS, HEADS, RELS, TARGETS)
    summary = stats.summary()
    assert summary["per_head"]["dep_alignment"] == [1.0, 0.0]  # head 1: the→., dog→., barks→the
    assert summary["to_head"]["det"]["best_head"] == 0
