"""scripts/study.py: runs grouped by setting, mean and 95% CI over seeds, skipped runs said why."""

import csv
import json
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from helpers import fake_run, run_cli
from matplotlib.colors import to_hex
from scipy import stats

from attn_project.errors import DataError
from attn_project.study.aggregate import run_study
from attn_project.study.figures import learning_curve_figure
from attn_project.study.write import write_study


@pytest.fixture
def sweep(tmp_path):
    """Two experiments × three seeds, one failed job, one job without a report."""
    root = tmp_path / "multiruns" / "single_head+multi_head" / "2026-11-28_10-00-00"
    accs = {"single_head": [0.86, 0.87, 0.89], "multi_head": [0.90, 0.89, 0.91]}
    n = 0
    for experiment, values in accs.items():
        for seed, acc in zip((1, 2, 3), values):
            folder = root / f"{n}_experiment={experiment}_seed={seed}"
            fake_run(folder, [f"experiment={experiment}"], seed, acc)
            n += 1
    fake_run(root / "6_experiment=single_head_seed=4", ["experiment=single_head"], 4, 0.0, report=False,
             finished=False, log="[ERROR] - job #6 failed: training loss became nan at step 3\n")
    fake_run(root / "7_experiment=single_head_seed=5", ["experiment=single_head"], 5, 0.8, report=False)
    return root, accs


def test_groups_by_setting_with_student_t_intervals(sweep):
    root, accs = sweep
    study = run_study([root])
    keys = [g["key"] for g in study["groups"]]
    assert keys == [{"experiment": "multi_head"}, {"experiment": "single_head"}]
    for group in study["groups"]:
        values = accs[group["key"]["experiment"]]
        acc = group["metrics"]["test/acc"]
        assert group["n_runs"] == 3 and group["seeds"] == [1, 2, 3] and acc["values"] == values
        half = stats.t.ppf(0.975, 2) * stats.sem(values)
        assert acc["mean"] == pytest.approx(sum(values) / 3)
        assert acc["ci95"] == pytest.approx([acc["mean"] - half, acc["mean"] + half])
        assert acc["ci95"][0] <= acc["mean"] <= acc["ci95"][1]
        assert group["metrics"]["alignment_margin"]["mean"] == pytest.approx(0.40 - 0.42)
        assert group["relations"]["det"]["margin"]["mean"] == pytest.approx(0.5 - 0.9)
        det = group["relations"]["det"]
        assert (det["beats_position_runs"], det["tested_runs"]) == (1, 3)  # seed 1 only
    skipped = {s["run"].rsplit("/", 1)[1]: s["why"] for s in study["skipped"]}
    assert skipped == {"6_experiment=single_head_seed=4": "failed: training loss became nan at step 3",
                       "7_experiment=single_head_seed=5": "finished without a report "
                                                          "(callbacks.attention_report was off)"}


def test_one_run_has_no_interval_and_the_table_says_so(tmp_path):
    fake_run(tmp_path / "run", ["experiment=single_head"], 42, 0.86)
    study = run_study([tmp_path])
    [group] = study["groups"]
    assert group["metrics"]["test/acc"]["ci95"] is None and group["key"] == {}
    paths = write_study(study, tmp_path / "out")
    assert "| all runs | 1 (42) | 0.860 |" in paths["md"].read_text()
    assert "**Warning:** all runs has 1 run(s)" in paths["md"].read_text()
    assert "no interval" in paths["md"].read_text()


def test_group_by_a_chosen_key(sweep):
    root, _ = sweep
    [group] = run_study([root], group_by=["model.d_model"])["groups"]  # the same in every run
    assert group["key"] == {"model.d_model": "64"} and group["n_runs"] == 6


def test_writes_json_csv_markdown_figures_and_tensorboard(sweep, tmp_path):
    root, _ = sweep
    paths = write_study(run_study([root]), tmp_path / "out")
    written = json.loads(paths["json"].read_text())
    assert {"groups", "skipped"} <= set(written) and len(written["groups"]) == 2
    csv_rows = paths["csv"].read_text().splitlines()
    assert len(csv_rows) == 3 and csv_rows[0].startswith("experiment,n_runs,seeds,")
    md = paths["md"].read_text()
    assert "| experiment=multi_head | 3 (1, 2, 3) | 0.900 ± 0.025 | 0.520 |" in md  # t(2) · sem = 0.0248
    assert "Columns: *test acc*" in md and "Warning" not in md  # a baseline the same in every run: no ±
    for name in ("study_accuracy", "study_attention", "study_relations"):
        assert paths[name].stat().st_size > 10_000
    assert list((tmp_path / "out" / "tensorboard").glob("events.out.tfevents.*"))
    assert "run_verdicts" not in written  # per run, in verdicts.csv, not study.json
    rows = list(csv.DictReader(paths["verdicts"].open()))  # one row per run × relation × direction
    assert len(rows) == 6
    assert {r["setting"] for r in rows} == {"experiment=single_head", "experiment=multi_head"}
    assert sorted(r["beats_position"] for r in rows) == ["False"] * 4 + ["True"] * 2  # seed 1 of each beats
    assert all(r["relation"] == "det" and r["direction"] == "to_head" for r in rows)
    assert written["groups"][0]["metrics"]["test/acc"]["by_seed"] == {"1": 0.90, "2": 0.89, "3": 0.91}


@pytest.mark.parametrize("make_folder, message", [
    (lambda t: t / "absent", "no such folder"),
    (lambda t: (t / "empty").mkdir() or t / "empty", "no runs found"),
])
def test_empty_or_wrong_folder_is_a_one_line_error(tmp_path, make_folder, message, capsys):
    folder = make_folder(tmp_path)
    with pytest.raises(DataError, match=message):
        run_study([folder])
    code, output = run_cli("study", [str(folder)], capsys)  # the command, in this process
    assert code == 2 and message in output and "Traceback" not in output


@pytest.mark.slow
def test_study_of_a_real_sweep_of_two_experiments_and_three_seeds(tmp_path, data_dir, capsys):
    run = subprocess.run([sys.executable, "scripts/train.py", "-m", "experiment=single_head,multi_head",
                          "seed=1,2,3", "debug=fdr", f"paths.log_dir={tmp_path}",
                          f"paths.data_dir={data_dir}", "data.sizes={train:1500,dev:200,test:200}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    [sweep] = (tmp_path / "multiruns" / "single_head+multi_head").iterdir()
    code, output = run_cli("study", [str(sweep)], capsys)
    assert code in (0, None), output[-3000:]
    study = json.loads((sweep / "study" / "study.json").read_text())
    keys = [g["key"] for g in study["groups"]]
    assert keys == [{"experiment": "multi_head"}, {"experiment": "single_head"}]
    assert all(g["n_runs"] == 3 and sorted(g["seeds"]) == [1, 2, 3] for g in study["groups"])
    assert all(g["metrics"]["test/acc"]["ci95"] is not None for g in study["groups"])
    assert not study["skipped"]


@pytest.mark.slow  # trains a model or runs a command end to end
def test_a_learning_curve_when_grouped_by_train_limit(tmp_path):
    runs = [(250, 1, 0.60), (250, 2, 0.62), (1000, 1, 0.68), (1000, 2, 0.70)]
    for n, (limit, seed, acc) in enumerate(runs):
        for experiment in ("ud_single_head", "ud_multi_head", "ud_single_head_directional"):
            overrides = [f"experiment={experiment}", f"data.train_limit={limit}"]
            fake_run(tmp_path / experiment / f"{n}", overrides, seed, acc)
    study = run_study([tmp_path], group_by=["experiment", "data.train_limit"])
    assert [g["key"]["data.train_limit"] for g in study["groups"]][:3] == ["250"] * 3  # sorted as numbers
    assert [g["key"]["data.train_limit"] for g in study["groups"]][3:] == ["1000"] * 3
    lines = learning_curve_figure(study["groups"]).axes[0].get_lines()
    model_colors = {to_hex(line.get_color()) for line in lines if line.get_linestyle() == "-"}
    baseline_colors = {to_hex(line.get_color()) for line in lines if line.get_linestyle() == "--"}
    assert len(model_colors) == 3 and len(baseline_colors) == 2 and not model_colors & baseline_colors
    paths = write_study(study, tmp_path / "out")
    assert paths["study_learning_curve"].stat().st_size > 10_000


def test_figures_clip_intervals_to_what_the_metric_can_reach_and_warn_nothing(sweep, recwarn):
    from attn_project.study.figures import DIFFERENCE, SHARE, figures, mean_and_error

    assert mean_and_error({"mean": 0.98, "ci95": [0.90, 1.06]}, SHARE) == (0.98, pytest.approx([0.08, 0.02]))
    margin = {"mean": -0.9, "ci95": [-1.3, -0.5]}  # a difference of shares cannot be below -1
    assert mean_and_error(margin, DIFFERENCE) == (-0.9, pytest.approx([0.1, 0.4]))
    assert mean_and_error({"mean": 0.5, "ci95": [0.4, 0.6]}, SHARE) == (0.5, pytest.approx([0.1, 0.1]))
    root, _ = sweep
    drawn = figures(run_study([root]))
    assert set(drawn) == {"study_accuracy", "study_attention", "study_relations"}
    assert not [w for w in recwarn if "redundantly defined" in str(w.message)]
    for fig in drawn.values():  # every legend sits outside the axes, beside the data
        for ax in fig.axes:
            legend = ax.get_legend()
            assert legend is None or legend.get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1


def test_study_warns_on_the_console_when_a_group_has_fewer_than_three_seeds(tmp_path, capsys):
    for seed in (1, 2):
        fake_run(tmp_path / f"{seed}", ["experiment=single_head"], seed, 0.8 + seed / 100)
    code, output = run_cli("study", [str(tmp_path), "--out", str(tmp_path / "o")], capsys)
    assert code in (0, None), output[-2000:]
    assert "warning: all runs has 2 run(s); a finding needs at least 3 seeds" in output


def test_an_eval_folder_inside_a_run_is_not_a_run(tmp_path):
    fake_run(tmp_path / "run", ["experiment=single_head"], 1, 0.8)
    fake_run(tmp_path / "run" / "eval" / "2026-11-29", [], 1, 0.8)
    evaluated = tmp_path / "run" / "eval" / "2026-11-29"
    (evaluated / ".hydra" / "config.yaml").write_text("task_name: eval\nseed: 1\n")
    shutil.rmtree(evaluated / "report")  # eval writes metrics.json only
    study = run_study([tmp_path])
    assert study["groups"][0]["n_runs"] == 1 and "eval.py result" in study["skipped"][0]["why"]
