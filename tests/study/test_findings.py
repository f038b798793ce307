"""Findings: paired differences over seeds, verdict words that say only what the interval says,
and pages whose tables are generated — the committed ones equal what the code produces."""

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from attn_project.errors import DataError
from attn_project.study.findings import (
    compare,
    fill_blocks,
    findings_markdown,
    generated_pages,
    load_findings,
    verdict,
)

REPO = Path(__file__).resolve().parents[2]


def study_of(values: dict[str, list[float]], baseline: float = 0.5) -> dict:
    """A study.json with one group per experiment; seeds 1..n."""
    groups = []
    for name, vals in values.items():
        seeds = {str(s + 1): v for s, v in enumerate(vals)}
        groups.append({"key": {"experiment": name}, "metrics": {
            "test/acc": {"by_seed": seeds},
            "baseline/bigram": {"by_seed": {s: baseline for s in seeds}}}})
    return {"groups": groups, "skipped": []}


def test_the_difference_is_paired_by_seed_not_a_difference_of_means():
    rng = np.random.default_rng(0)
    seed_effect = rng.normal(0, 0.05, 10)  # shared by both settings of a seed: pairing removes it
    a, b = 0.80 + seed_effect + 0.004, 0.80 + seed_effect + rng.normal(0, 0.001, 10)
    result = compare({"name": "x", "metric": "test/acc", "a": {"experiment": "a"}, "b": {"experiment": "b"},
                      "margin": 0.01}, study_of({"a": list(a), "b": list(b)}), "here")
    diff = a - b
    half = stats.t.ppf(0.975, 9) * stats.sem(diff)
    assert result["difference"]["mean"] == pytest.approx(diff.mean())
    assert result["difference"]["ci95"] == pytest.approx([diff.mean() - half, diff.mean() + half])
    assert result["verdict"] == "above, by less than 0.01"  # unpaired intervals would overlap widely
    assert result["seeds"] == [str(s) for s in range(1, 11)]


def test_a_baseline_is_subtracted_per_seed():
    result = compare({"name": "x", "metric": "test/acc", "a": {"experiment": "a"},
                      "baseline": "baseline/bigram", "margin": 0.01},
                     study_of({"a": [0.52, 0.53, 0.51]}), "here")
    assert result["difference"]["mean"] == pytest.approx(0.02)
    assert result["verdict"].endswith("3 seeds, not a headline")
    against_zero = compare({"name": "x", "metric": "test/acc", "a": {"experiment": "a"}, "baseline": 0,
                            "margin": 0.01}, study_of({"a": [0.52, 0.53, 0.51]}), "here")
    assert against_zero["difference"]["mean"] == pytest.approx(0.52) and against_zero["b"] == "0"


def test_a_list_of_baselines_faces_the_strongest():
    study = study_of({"a": [0.52, 0.53, 0.51]})
    for seeds in (g["metrics"] for g in study["groups"]):
        fitted_once = {s: 0.525 for s in seeds["test/acc"]["by_seed"]}
        seeds["baseline/bigram_class_balanced"] = {"by_seed": fitted_once}
    entry = {"name": "x", "metric": "test/acc", "a": {"experiment": "a"}, "margin": 0.01,
             "baseline": ["baseline/bigram", "baseline/bigram_class_balanced"]}
    result = compare(entry, study, "here")
    assert result["difference"]["mean"] == pytest.approx(-0.005)  # against 0.525, not 0.5
    assert result["b"].startswith("baseline/bigram_class_balanced")
    lower = compare({**entry, "lower_is_better": True}, study, "here")  # e.g. perplexity: the smallest
    assert lower["difference"]["mean"] == pytest.approx(0.02)


def test_a_seed_interval_narrower_than_the_sentence_bootstrap_is_reported_with_the_bootstrap():
    """Rows that do not vary across seeds give a zero-width seed interval; the named paired
    bootstrap (the runs' own interval of that difference) is wider, and is what the verdict uses."""
    study = study_of({"a": [0.545] * 10}, baseline=0.5)
    metrics = study["groups"][0]["metrics"]
    metrics["alignment_margin/bootstrap_half_width"] = {"by_seed": {str(s): 0.06 for s in range(1, 11)}}
    entry = {"name": "x", "metric": "test/acc", "a": {"experiment": "a"}, "baseline": "baseline/bigram",
             "margin": 0.01, "bootstrap": "alignment_margin"}
    result = compare(entry, study, "here")
    assert result["interval"] == "sentence bootstrap"
    assert result["difference"]["ci95"] == pytest.approx([0.045 - 0.06, 0.045 + 0.06])
    assert result["verdict"].startswith("inconclusive")  # the seed interval alone would say "above"
    assert "sentence bootstrap" in findings_markdown([result])
    without = compare({k: v for k, v in entry.items() if k != "bootstrap"}, study, "here")
    assert without["interval"] == "seeds" and without["verdict"] == "above"


@pytest.mark.parametrize("ci, words", [
    ([0.01, 0.03], "above"), ([-0.03, -0.02], "below"), ([-0.004, 0.006], "level within ±0.01"),
    ([0.002, 0.008], "above, by less than 0.01"),
    ([-0.02, 0.005], "inconclusive (includes 0, reaches past ±0.01)"),
    (None, "no interval (one seed)")])
def test_verdict_words_say_what_the_interval_says(ci, words):
    assert verdict(ci, 0.01, 10) == words


def test_bad_findings_files_name_the_file_and_entry(tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text("- name: x\n  study: s.json\n  metric: test/acc\n  a: {experiment: a}\n  margin: 0.01\n")
    with pytest.raises(DataError, match=r"f.yaml: entry 1 \(x\): give either b"):
        load_findings(path)
    path.write_text("just text")
    with pytest.raises(DataError, match="f.yaml: a findings file is a list"):
        load_findings(path)
    with pytest.raises(DataError, match="matches 0 groups"):
        compare({"name": "x", "metric": "test/acc", "a": {"experiment": "nope"}, "baseline": "bigram",
                 "margin": 0.01}, study_of({"a": [0.5, 0.6]}), "here")


def test_blocks_are_filled_and_an_unknown_block_is_an_error():
    page = "intro\n<!-- findings:one -->\nold table\n<!-- /findings:one -->\nend\n"
    assert fill_blocks(page, {"one": "| new |\n"}, "p.md") == (
        "intro\n<!-- findings:one -->\n| new |\n<!-- /findings:one -->\nend\n")
    with pytest.raises(DataError, match="p.md: block findings:one has no findings file"):
        fill_blocks(page, {}, "p.md")


def test_generated_pages_from_a_findings_folder(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps(study_of({"a": [0.6, 0.61, 0.62], "b": [0.5, 0.5, 0.51]})))
    (tmp_path / "one.yaml").write_text("- name: a vs b\n  study: s.json\n  metric: test/acc\n"
                                       "  a: {experiment: a}\n  b: {experiment: b}\n  margin: 0.01\n")
    page = tmp_path / "page.md"
    page.write_text("<!-- findings:one -->\n<!-- /findings:one -->\n")
    out = generated_pages(tmp_path, [page])
    assert "| a vs b | `test/acc` | `experiment=a` 0.610 ± 0.025 |" in out[tmp_path / "one.md"]
    assert "+0.107 ± 0.014 (3) | above; 3 seeds, not a headline |" in out[page]


def test_the_committed_tables_and_pages_equal_what_the_code_generates():
    """README.md, docs/results.md and docs/findings/*.md: every findings table as the studies give it."""
    findings = REPO / "docs" / "findings"
    pages = [REPO / "README.md", REPO / "docs" / "results.md", REPO / "docs" / "lens_over_training.md"]
    generated = generated_pages(findings, pages)
    assert len(generated) > len(pages)  # at least one findings file
    for path, text in generated.items():
        assert path.read_text(encoding="utf-8") == text, f"{path}: regenerate with attn-study --findings"
