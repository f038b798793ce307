"""Run names: one source for the experiment's name (folders, HPARAMS, the report, W&B) and job
folders that put what differs first."""

import json

import pytest
from conftest import ROOT
from helpers import ALL_EXPERIMENTS
from omegaconf import OmegaConf

from attn_project.run import run_names
from attn_project.run.hparams import hparams_of

EXPERIMENTS = ALL_EXPERIMENTS


@pytest.mark.parametrize("name", [EXPERIMENTS[0], "ud_single_head_gold_head", None])
def test_the_experiment_name_has_one_source(make_cfg, name, monkeypatch):
    monkeypatch.delenv(run_names.SWEPT, raising=False)
    cfg = make_cfg(*([f"experiment={name}"] if name else []))
    expected = name or "custom"
    assert run_names.experiment_name() == expected
    assert OmegaConf.select(cfg, "callbacks.attention_report.experiment") == expected  # the report
    assert hparams_of(cfg)["experiment"] == expected  # HPARAMS
    wandb = OmegaConf.load(ROOT / "conf" / "logger" / "wandb.yaml")
    assert "${experiment_name:}" in json.dumps(OmegaConf.to_container(wandb))  # W&B's run name
    task = cfg.hydra.runtime.choices.get("task")
    assert run_names.experiment_folder(name, task).startswith(expected)  # the run folder
    for experiment in EXPERIMENTS:  # no second name in an experiment's file
        lines = (ROOT / "conf" / "experiment" / f"{experiment}.yaml").read_text().splitlines()
        assert not any(line.startswith(("tags:", "name:", "experiment:")) for line in lines), experiment


def test_job_folders_put_the_swept_values_first(monkeypatch):
    swept = run_names.swept_overrides(["experiment=single_head,multi_head", "model.d_model=32,64", "seed=1"])
    assert swept == {"experiment": "single_head,multi_head", "model.d_model": "32,64"}  # seed=1: no sweep
    monkeypatch.setenv(run_names.SWEPT, json.dumps(swept))  # what remember_sweep leaves for the jobs
    name = run_names.job_folder(3, ["experiment=multi_head", "model.d_model=32", "seed=1"])
    assert name == "3_multi_head_d_model=32"
    assert run_names.experiment_folder("multi_head") == "single_head+multi_head"


def test_a_deeper_classifiers_folder_names_its_depth(monkeypatch):
    monkeypatch.delenv(run_names.SWEPT, raising=False)
    assert run_names.experiment_folder("multi_head", None, 2) == "multi_head-2layers"
    assert run_names.experiment_folder("multi_head", "upos", 3) == "multi_head-upos-3layers"
    assert run_names.experiment_folder("multi_head", None, 1) == "multi_head"
    assert run_names.experiment_folder("lm_mlm", None, 4, "mlm") == "lm_mlm"  # its size is its model=
    monkeypatch.setenv(run_names.SWEPT, json.dumps({"model.num_layers": "1,2"}))
    assert run_names.experiment_folder("multi_head", None, 2) == "multi_head"  # the job folders say it


def test_odd_characters_never_make_a_path():
    assert run_names.safe("a/b\\c d") == "a-b-c-d"
    assert "/" not in run_names.job_folder(0, ["data.root=/x/y"], {"data.root": "choice(/x/y)"})
