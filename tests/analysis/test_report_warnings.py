"""Report numbers added this round: the near-majority warning and the entropy of rows by class."""

import dataclasses

import numpy as np
import pytest
import torch
from helpers import fake_report

from attn_project.analysis.report_numbers import entropy_by_class
from attn_project.analysis.report_schema import AnalysisSettings, Estimate
from attn_project.analysis.report_text import near_majority_warning, report_markdown
from attn_project.analysis.rows import collect
from attn_project.analysis.significance import Bootstrap


def with_balanced(balanced: float, classes: int = 2):
    report = fake_report(0.76, 0.4, beats=False)
    names = [f"c{k}" for k in range(classes)]
    test = dataclasses.replace(report.test, balanced_acc=Estimate(balanced),
                               per_class={n: {"support": 10, "recall": 0.5} for n in names})
    settings = AnalysisSettings(False, 10, 0, "bh", 0.05, 50, "dev")
    return dataclasses.replace(report, test=test, analysis=settings)


@pytest.mark.parametrize("balanced, classes, warned", [(0.505, 2, True), (0.52, 2, False), (0.255, 4, True),
                                                       (0.27, 4, False)])
def test_a_near_majority_run_is_warned_about(balanced, classes, warned):
    report = with_balanced(balanced, classes)
    assert (near_majority_warning(report) is not None) == warned
    assert ("close to always predicting one class" in report_markdown(report)) == warned


def test_entropy_by_class_separates_diffuse_function_rows_from_focused_content_rows():
    """Content targets attend to one word (entropy 0), function targets uniformly (entropy 1)."""
    batches = []
    for s in range(20):
        labels = torch.tensor([[1, 0, 1, 0]])  # content, function, content, function
        weights = torch.zeros(1, 1, 4, 4)
        weights[0, 0, [0, 2]] = torch.eye(4)[[1, 3]]  # content rows: one-hot on another word
        weights[0, 0, [1, 3]] = 0.25  # function rows: uniform
        batches.append({"weights": weights, "lengths": torch.tensor([4]),
                        "heads": torch.tensor([[1, -1, 1, 2]]), "rels": torch.zeros(1, 4, dtype=torch.long),
                        "punct": torch.zeros(1, 4, dtype=torch.bool), "labels": labels,
                        "index": torch.tensor([s])})
    rows = collect(batches)
    out = entropy_by_class(rows, Bootstrap(rows.sentence, 50))
    assert out["content"].value == pytest.approx(0.0, abs=1e-6)
    assert out["function"].value == pytest.approx(1.0)
    assert out["function_minus_content"].value == pytest.approx(1.0)
    assert np.allclose(out["function_minus_content"].ci95, [1.0, 1.0])
    only_content = collect([dict(b, labels=torch.ones(1, 4, dtype=torch.long)) for b in batches])
    assert entropy_by_class(only_content, Bootstrap(only_content.sentence, 50)) == {}  # no class to compare


def test_many_classes_show_the_most_and_least_frequent_as_rows_not_a_thousand_columns():
    report = with_balanced(0.3, classes=1000)
    per_class = {f"w{k}": {"support": 1000 - k, "recall": k / 1000} for k in range(1000)}
    per_class |= {f"never{k}": {"support": 0, "recall": None} for k in range(20)}  # not in test
    report = dataclasses.replace(report, test=dataclasses.replace(report.test, per_class=per_class))
    markdown = report_markdown(report)
    assert max(len(line) for line in markdown.splitlines() if line.startswith("|")) < 200
    assert "| most frequent | w0 | 0.000 | 1000 |" in markdown
    assert "| least frequent | w999 | 0.999 | 1 |" in markdown and "w500" not in markdown
    assert "never" not in markdown.split("attention_report.json):")[1] and "20 more never occur" in markdown
    few = report_markdown(with_balanced(0.3, classes=4))
    assert "| class | c0 | c1 | c2 | c3 |" in few  # a few classes: one row of columns, as before
