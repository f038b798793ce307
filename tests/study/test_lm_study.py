"""attn-study on language-model runs: each run's lens over training read as one run (final checkpoint,
curves over the steps), grouped by setting with intervals over seeds, and its own table and figures."""

import copy
import csv
import json

import pytest
from conftest import ROOT
from helpers import fake_run
from omegaconf import OmegaConf
from scipy import stats

from attn_project.commands.lens_over_training import own_treebank
from attn_project.errors import ConfigError, DataError
from attn_project.study.aggregate import run_study
from attn_project.study.write import write_study

LENS = json.loads((ROOT / "docs/studies/lm_over_training/mlm_generated/lens_over_training.json").read_text())
FINAL = max(c["step"] for c in LENS["checkpoints"])


def fake_lm_run(folder, objective, seed, obj_acc, lens=True):
    """A finished language-model run whose final obj (to_head) best head scores ``obj_acc``."""
    (folder / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"objective": objective, "seed": seed, "model": {"num_layers": 4}}),
                   folder / ".hydra" / "config.yaml")
    OmegaConf.save(OmegaConf.create([f"experiment=lm_{objective}", f"seed={seed}"]),
                   folder / ".hydra" / "overrides.yaml")
    (folder / "metrics.json").write_text(json.dumps({"test/top1": 0.3 + seed / 100, "test/perplexity": 20.0}))
    if not lens:
        return
    written = copy.deepcopy(LENS)
    for row in written["relations"]:
        if (row["relation"], row["direction"], row["step"]) == ("obj", "to_head", FINAL):
            row["best_head_acc"], row["beats_position"] = obj_acc, obj_acc > row["offset_acc"]
    (folder / "lens").mkdir()
    (folder / "lens" / "lens_over_training.json").write_text(json.dumps(written))


@pytest.fixture
def lm_runs(tmp_path):
    accs = {"mlm": [0.50, 0.55, 0.60], "causal": [0.80, 0.85, 0.95]}
    for objective, values in accs.items():
        for seed, acc in zip((1, 2, 3), values):
            fake_lm_run(tmp_path / f"{objective}_s{seed}", objective, seed, acc)
    fake_lm_run(tmp_path / "mlm_s4", "mlm", 4, 0.5, lens=False)
    return tmp_path, accs


def test_language_model_runs_are_grouped_with_intervals_over_seeds(lm_runs):
    root, accs = lm_runs
    study = run_study([root])
    assert study["kind"] == "language_model"
    by_objective = {g["key"]["experiment"].removeprefix("lm_"): g for g in study["groups"]}
    offset = next(r["offset_acc"] for r in LENS["relations"]
                  if (r["relation"], r["direction"], r["step"]) == ("obj", "to_head", FINAL))
    for objective, values in accs.items():
        group = by_objective[objective]
        margin = group["metrics"]["lens/obj/to_head/margin_over_offset"]
        expected = [v - offset for v in values]
        half = stats.t.ppf(0.975, 2) * stats.sem(expected)
        assert margin["mean"] == pytest.approx(sum(expected) / 3)
        assert margin["ci95"] == pytest.approx([margin["mean"] - half, margin["mean"] + half])
        obj = group["relations"]["obj (to_head)"]
        assert obj["beats_position_runs"] == sum(v > offset for v in values) and obj["tested_runs"] == 3
        assert obj["category_tested_runs"] == 3
        assert group["metrics"]["test/top1"]["by_seed"] == pytest.approx({"1": 0.31, "2": 0.32, "3": 0.33})
        loss = group["curves"]["treebank_loss"]  # over the steps: every saved checkpoint
        assert sorted(map(int, loss)) == [c["step"] for c in LENS["checkpoints"]]
        assert group["curves"]["obj (to_head)"][str(FINAL)]["mean"] == pytest.approx(margin["mean"])
    command = f"python scripts/lens_over_training.py run_dir={root / 'mlm_s4'}"
    assert [s["why"] for s in study["skipped"]] == [f"no lens/lens_over_training.json (run: {command})"]


def test_a_language_model_study_writes_its_own_table_findings_and_figures(lm_runs, tmp_path):
    root, _ = lm_runs
    paths = write_study(run_study([root]), tmp_path / "out")
    text = paths["md"].read_text()
    assert "| setting | relation | best head | offset | category rule |" in text
    assert "## Findings" in text and text.count("It cannot show:") == 2
    with open(paths["verdicts"], encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["seed"] for r in rows} == {"1", "2", "3"} and "beats_category" in rows[0]
    assert paths["study_emergence"].stat().st_size > 10_000 and paths["study_margins"].stat().st_size > 10_000


def test_language_model_and_classifier_runs_are_not_mixed(lm_runs):
    root, _ = lm_runs
    fake_run(root / "classifier", ["experiment=single_head"], 1, 0.8)
    with pytest.raises(DataError, match="language-model and classifier runs mixed"):
        run_study([root])


def test_the_lens_reads_the_runs_own_trees_only_where_it_has_them(tmp_path):
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(OmegaConf.create({"data": {"files": ["a.txt"], "data_dir": str(tmp_path)}}),
                   run / ".hydra" / "config.yaml")
    with pytest.raises(ConfigError, match="trained on text files .* data.root="):
        own_treebank(run)
    OmegaConf.save(OmegaConf.create({"data": {"files": None, "data_dir": str(tmp_path / "d"), "max_len": 64,
                                              "generated_sizes": {"train": 30, "dev": 10, "test": 10}}}),
                   run / ".hydra" / "config.yaml")
    folder = own_treebank(run)
    assert folder == tmp_path / "d" / "generated" / "lm_default_30-10-10"
    written = sorted(p.name for p in folder.glob("*.conllu"))
    assert written == [f"default-ud-{s}.conllu" for s in ("dev", "test", "train")]
    with pytest.raises(ConfigError, match="data.root: .* is missing"):
        own_treebank(tmp_path / "nowhere")
