"""The two per-relation verdicts, each tested and corrected on its own: *follows syntax beyond
position* (the best head vs the dev-chosen offset) and *changed by training* (vs the untrained
model; not applicable to rows that cannot train), and the weights reported beside hit rates."""

import pytest
import torch

from attn_project.analysis.report_numbers import NO_UNTRAINED, ROWS_FIXED, TRAINING_TESTED, build_report
from attn_project.analysis.report_schema import Report
from attn_project.analysis.report_text import report_markdown
from attn_project.analysis.rows import collect
from attn_project.study.runs import relation_verdicts

RELATIONS = ["root", "near", "far"]
T = 8
ON, OFF = 1.0 / (1 + 0.01 * (T - 1)), 0.01 / (1 + 0.01 * (T - 1))  # a row's weight where it looks, elsewhere


def rows_of(num_sentences: int, finds_far_head: bool):
    """Sentences of 8 words; word 1 + d (d = 3, 4, 5 in turn) hangs off word 1 ("far"), every other
    word off its left neighbour ("near"). Every row looks at its left neighbour (word 0 at word 1);
    ``finds_far_head``: the far word looks at its head instead — no single offset finds them all."""
    batches = []
    for s in range(num_sentences):
        far = 1 + 3 + s % 3
        heads = torch.tensor([[1, -1, 1, 2, 3, 4, 5, 6]])
        heads[0, far] = 1
        rels = torch.tensor([[1, 0, 1, 1, 1, 1, 1, 1]])
        rels[0, far] = 2
        weights = torch.full((1, 1, T, T), 0.01)
        for i in range(T):
            weights[0, 0, i, 1 if (finds_far_head and i == far) else (i - 1 if i else 1)] = 1.0
        batches.append({"weights": weights / weights.sum(-1, keepdim=True), "lengths": torch.tensor([T]),
                        "heads": heads, "rels": rels, "punct": torch.zeros(1, T, dtype=torch.bool),
                        "labels": torch.ones(1, T, dtype=torch.long), "index": torch.tensor([s]),
                        "logits": torch.zeros(1, T, 2)})
    return collect(batches, punct_edges=True)


def report(before, after, rows_train=True) -> Report:
    return build_report(before, after, None, relations=RELATIONS, punct_edges=True, resamples=200,
                        rows_train=rows_train)


def test_fixed_rows_planted_at_the_gold_head_beat_position_and_are_not_changed_by_training():
    """A fixed-row model (an oracle) whose untrained twin has the same rows: the old combined test
    (the larger p of both) could never pass; split, it follows syntax and training does not apply."""
    planted = rows_of(90, finds_far_head=True)
    fixed = report(planted, planted, rows_train=False)
    far = fixed.weights.per_relation["far"]
    assert far.best_head_after.value == 1.0 and far.best_offset == pytest.approx(1 / 3, abs=0.01)
    assert far.beats_position is True and far.p_adjusted < 0.05
    assert far.changed_by_training is None and far.p_value_training is None
    assert fixed.analysis.training_verdict == ROWS_FIXED
    assert "not applicable" in report_markdown(fixed)
    csv_far = next(r for r in relation_verdicts(fixed)
                   if r["relation"] == "far" and r["direction"] == "to_head")
    assert csv_far["beats_position"] is True and csv_far["changed_by_training"] == "n/a"


def test_trainable_rows_get_both_verdicts_each_on_its_own():
    planted, neighbour = rows_of(90, True), rows_of(90, False)
    grown = report(neighbour, planted).weights.per_relation["far"]
    assert grown.beats_position is True and grown.changed_by_training is True
    assert grown.p_adjusted_training < 0.05
    # trainable rows that training left as they were: beyond position, yet not changed by training
    same = report(planted, planted)
    far = same.weights.per_relation["far"]
    assert far.beats_position is True and far.changed_by_training is False
    assert same.analysis.training_verdict == TRAINING_TESTED


def test_no_untrained_model_means_no_training_verdict():
    planted = rows_of(90, True)
    report_json = build_report(planted, planted, None, relations=RELATIONS, punct_edges=True, resamples=50)
    assert report_json.analysis.training_verdict == TRAINING_TESTED
    from attn_project.analysis.report_numbers import relation_tables
    from attn_project.analysis.significance import Bootstrap

    tables = relation_tables(None, planted, None, Bootstrap(planted.sentence, 50, 0), RELATIONS)
    assert tables["per_relation"]["far"].beats_position is True
    assert tables["per_relation"]["far"].changed_by_training is None
    assert NO_UNTRAINED.startswith("not applicable")


def test_weights_beside_hit_rates():
    """The best head's weight on the gold link and on the best offset's word, from the rows."""
    neighbour = rows_of(90, False)
    entry = report(neighbour, neighbour).weights.per_relation
    near = entry["near"]  # every near word looks at its head (its left neighbour): weight ON there
    assert near.best_head_weight.value == pytest.approx(ON, abs=1e-3)
    # at -1, word 0's row has no word (a miss, weight 0): 5 of each sentence's 6 near rows
    assert near.best_offset_name == "-1"
    assert near.best_head_offset_weight == pytest.approx(5 / 6 * ON, abs=1e-3)
    far = entry["far"]  # far words look at their left neighbour, not at their head
    assert far.best_head_weight.value == pytest.approx(OFF, abs=1e-3)
    # the far offsets -3, -4, -5 tie; the smallest, -5, is off the sentence for a far word at 4
    assert far.best_offset_name == "-5"
    assert far.best_head_offset_weight == pytest.approx(2 / 3 * OFF, abs=1e-4)
    again = Report.from_json(report(neighbour, neighbour).to_json()).weights.per_relation["near"]
    assert again.best_head_weight.value == pytest.approx(near.best_head_weight.value)
    # to a dependent: word 1's row looks at word 0 (a near dependent, its weight ON)
    dependent = report(neighbour, neighbour).weights.per_relation_to_dependent["near"]
    assert 0 < dependent.best_head_weight.value <= 1
