"""The typed report: one formatter for a value with its interval, JSON in and out, and a file
that does not fit named by its key."""

import copy
import json

import numpy as np
import pytest

from attn_project.analysis.report_schema import Estimate, Report, ReportError


def test_one_formatter_for_a_run_and_for_a_study():
    value = Estimate(0.4281, (0.4212, 0.4363))
    assert value.format() == "0.428 [0.421, 0.436]"  # a run: bootstrap interval
    assert value.format(style="plus_minus") == "0.428 ± 0.008"  # a study: half-width over seeds
    assert Estimate(0.5).format() == "0.500" and Estimate(None, (0.1, 0.2)).format() == "–"
    assert Estimate(0.1, (0.05, 0.2)).side_of_zero() == 1 and Estimate(-0.1, (-0.2, 0.1)).side_of_zero() == 0
    assert Estimate(-0.1, (-0.2, -0.05)).side_of_zero() == -1 and Estimate(0.3).side_of_zero() == 0
    assert Estimate(0.5, (0.4, 0.7)).errors() == pytest.approx((0.1, 0.2))


def test_estimate_of_computed_numbers_drops_nan_and_numpy_types():
    value = Estimate.of(np.float64(0.25), [np.float64(0.2), np.float64(0.3)])
    assert value == Estimate(0.25, (0.2, 0.3)) and type(value.value) is float
    assert Estimate.of(float("nan"), None) == Estimate(None) and Estimate.of(0.3, None).ci95 is None
    assert Estimate.of(0.3, [0.2, 0.4]).write("acc") == {"acc": 0.3, "acc_ci95": [0.2, 0.4]}


def minimal_report() -> dict:
    """The smallest report JSON: the blocks every report has, few keys in each."""
    block = {"after": {"entropy": 0.8, "entropy_ci95": [0.7, 0.9], "dep_alignment": 0.4},
             "alignment_margin": {"mean": 0.02, "mean_ci95": [-0.01, 0.05]},
             "best_offset": {"offset": "-1", "dep_alignment": 0.38},
             "per_relation": {"det": {"n": 120, "after": 0.6, "best_offset": 0.5, "beats_position": True}}}
    return {"test": {"acc": 0.86, "acc_ci95": [0.85, 0.87], "balanced_acc": 0.85, "macro_f1": 0.84},
            "baselines": {"bigram": {"acc": 0.91, "balanced_acc": 0.9}},
            "before": {"entropy": 0.99}, "entropy_change": {"mean": -0.19}, **block,
            "interventions": {"uniform": {"acc": 0.7, "delta": -0.16, "delta_ci95": [-0.2, -0.12]}},
            "effective": {"before_is": "weights", **copy.deepcopy(block)}}


def test_study_metrics_come_from_the_typed_report():
    report = Report.from_json(minimal_report())
    metrics = report.study_metrics()
    assert metrics["test/acc"] == 0.86 and metrics["baseline/bigram"] == 0.91
    assert metrics["baseline/bigram_balanced"] == 0.9 and metrics["entropy/before"] == 0.99
    assert metrics["alignment_margin"] == 0.02 and metrics["best_offset"] == 0.38
    assert metrics["intervention/uniform/delta"] == -0.16 and metrics["effective/alignment_margin"] == 0.02
    assert "test/f1" not in metrics  # absent, not invented
    assert report.weights.per_relation["det"].margin == pytest.approx(0.1)
    assert report.weights.tested() == [("det", "head", True)] and report.effective.before_is == "weights"
    again = Report.from_json(json.loads(json.dumps(report.to_json())))
    assert again.study_metrics() == metrics and again.to_json() == report.to_json()


def test_a_deep_models_layer_interventions_reach_the_study_and_no_other_name_does():
    raw = minimal_report()
    raw["interventions"] = {"learned": {"acc": 0.8, "delta": 0.0},
                            "uniform_layer0": {"acc": 0.7, "delta": -0.1},
                            "uniform_layer11": {"acc": 0.78, "delta": -0.02}, "uniform_layerX": {"acc": 0.5}}
    metrics = Report.from_json(raw).study_metrics()
    assert metrics["intervention/uniform_layer0/delta"] == -0.1
    assert metrics["intervention/uniform_layer11/acc"] == 0.78
    assert not any("uniform_layerX" in name or "learned" in name for name in metrics)


def test_a_report_from_before_the_bootstrap_seed_was_recorded_still_reads():
    settings = {"punct_edges": False, "bootstrap_resamples": 1000, "correction": "benjamini-hochberg",
                "alpha": 0.05, "min_rows_for_verdict": 50, "best_head_chosen_on": "test (one head)"}
    older = Report.from_json({**minimal_report(), "analysis": settings})  # the draws then followed data.seed
    assert older.analysis is not None and older.analysis.bootstrap_seed is None
    assert older.study_metrics() == Report.from_json(minimal_report()).study_metrics()
    current = Report.from_json({**minimal_report(), "analysis": {**settings, "bootstrap_seed": 3}})
    assert current.analysis is not None and current.analysis.bootstrap_seed == 3
    with pytest.raises(ReportError, match="analysis: .*unexpected keyword argument 'seed'"):
        Report.from_json({**minimal_report(), "analysis": {**settings, "seed": 3}})


@pytest.mark.parametrize(("edit", "key"), [
    (lambda r: r["test"].update(acc="high"), "test.acc is not a number"),
    (lambda r: r["after"].update(entropy_ci95=[0.1]), "after.entropy_ci95"),
    (lambda r: r["per_relation"]["det"].pop("n"), "per_relation.det.n"),
    (lambda r: r["per_relation"]["det"].update(beats_position="yes"), "per_relation.det.beats_position"),
    (lambda r: r["effective"]["alignment_margin"].update(mean=[1]), "effective.alignment_margin.mean"),
    (lambda r: r["baselines"]["bigram"].update(acc="0.9"), "baselines.bigram.acc"),
    (lambda r: r.update(interventions=[1, 2]), "interventions is not a JSON object"),
])
def test_a_report_that_does_not_fit_names_its_key(edit, key):
    report = minimal_report()
    edit(report)
    with pytest.raises(ReportError, match=key.replace(".", r"\.").replace("[", r"\[")):
        Report.from_json(report)
    with pytest.raises(ReportError, match="not a JSON object"):
        Report.from_json([1, 2])
