"""Configs compose, every experiment runs, TensorBoard gets figures and scalars, sweeps work."""

import subprocess
import sys

import hydra
import lightning as L
import pytest
from conftest import MINI_UD, ROOT
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from attn_project.analysis.mask_maps import analyse_split
from attn_project.callbacks.attention import AttentionMetrics
from attn_project.model import MaskedTokenClassifier
from attn_project.module import MaskedTokenModule
from attn_project.train import build_module, train

TINY = ["trainer.max_epochs=1", "++trainer.limit_train_batches=4", "++trainer.limit_val_batches=2",
        "++trainer.limit_test_batches=2", "callbacks.progress_bar=null"]
EXPERIMENTS = ["single_head", "multi_head", "ud_single_head", "ud_multi_head"]


def experiment_overrides(name):
    return [f"experiment={name}"] + ([f"data.root={MINI_UD}"] if name.startswith("ud_") else [])


@pytest.mark.parametrize("trainer, tasks", [("ddp", 4), ("gpu", 1)])
def test_slurm_launcher_asks_for_one_task_per_device(make_cfg, trainer, tasks):
    from omegaconf import OmegaConf

    cfg = make_cfg(f"trainer={trainer}", "hydra/launcher=slurm")
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == cfg.trainer.devices == tasks


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiment_composes_and_instantiates(make_cfg, name):
    cfg = make_cfg(*experiment_overrides(name))
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    model = build_module(cfg, dm).model
    assert isinstance(model, MaskedTokenClassifier)
    assert model.num_heads == (4 if "multi" in name else 1)
    trainer = hydra.utils.instantiate(cfg.trainer)
    assert trainer.max_epochs == 2


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_dev_run(make_cfg, name):
    cfg = make_cfg(*experiment_overrides(name), "debug=fdr")
    _, metrics = train(cfg)
    assert 0.0 <= metrics["test/acc"] <= 1.0


def read_events(folder):
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("batching", ["sentences", "examples"])
def test_short_run_logs_figures_per_epoch_and_scalars(make_cfg, tmp_path, batching):
    cfg = make_cfg("experiment=multi_head", "trainer.max_epochs=2", "trainer.log_every_n_steps=5",
                   f"data.batching={batching}")
    value, metrics = train(cfg)
    events = read_events(tmp_path / "run" / "tensorboard")
    figures = [t for t in events.Tags()["images"] if t.startswith("attention/")]
    assert figures, events.Tags()["images"]
    steps = [e.step for e in events.Images(figures[0])]
    assert steps[0] == 0 and len(steps) == 3 and steps == sorted(set(steps))  # before + 2 epochs
    scalars = set(events.Tags()["scalars"])
    for tag in ("train/loss", "val/loss", "val/acc", "val/f1", "test/acc", "test/f1",
                "attention/entropy", "attention/dep_alignment"):
        assert tag in scalars, tag
    assert len(events.Scalars("val/acc")) == 2
    assert [e.step for e in events.Scalars("attention/entropy")] == steps  # before + each epoch
    assert value == metrics["val/acc_best"] == max(e.value for e in events.Scalars("val/acc"))
    assert list((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert (tmp_path / "run" / "tokenizer" / "tokenizer.json").is_file()


@pytest.mark.parametrize("batching, val_batches, own_passes", [
    ("sentences", 1.0, [0]),  # read off the validation pass
    ("examples", 1.0, [0, 5]),  # validation computes no mask maps: a pass of their own
    ("sentences", 1, [0, 5]),  # validation saw only part of the subset: a pass of their own
])
def test_attention_metrics_from_validation_equal_a_pass_of_their_own(make_cfg, batching, val_batches,
                                                                      own_passes):
    """Per-epoch attention metrics, read off the validation batches or from a pass of their
    own, give the numbers of analyse_split on the same dev sentences."""

    class Recording(AttentionMetrics):
        logged, own_passes = [], []  # a new class per test call

        def log_scalars(self, trainer, summary):
            self.logged.append(summary)

        def own_pass(self, trainer, pl_module):
            self.own_passes.append(trainer.global_step)
            return super().own_pass(trainer, pl_module)

    cfg = make_cfg(f"data.batching={batching}")
    dm = hydra.utils.instantiate(cfg.data, eval_batch_size=64)  # dev (200 sentences): 4 batches
    dm.setup()
    L.seed_everything(0, verbose=False)
    module = MaskedTokenModule(model=dict(vocab_size=dm.vocab_size, d_model=32, num_heads=2,
                                          max_len=dm.max_len, mask_id=dm.mask_id, pad_id=dm.pad_id),
                               optimizer={"_target_": "torch.optim.AdamW", "_partial_": True,
                                          "lr": 3e-2})  # high: the attention must move in 5 steps
    metrics = Recording(num_sentences=150)  # dev has 200: some validation rows are left out
    trainer = L.Trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=val_batches, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, callbacks=[metrics])
    trainer.fit(module, datamodule=dm)
    assert len(metrics.logged) == 2  # before training, after the epoch
    assert metrics.own_passes == own_passes
    expected = analyse_split(module.model, dm.tensors["dev"], dm.relations, list(range(150)))
    expected = expected.summary()
    assert abs(metrics.logged[0]["entropy"] - metrics.logged[1]["entropy"]) > 1e-2  # trained
    for key in ("entropy", "dep_alignment", "dep_mass"):
        assert metrics.logged[1][key] == pytest.approx(expected[key], abs=1e-5), key
    assert metrics.logged[1]["rows"] == expected["rows"]


def run_script(*args, timeout=600):
    return subprocess.run([sys.executable, "scripts/train.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_basic_multirun_writes_one_folder_per_job(tmp_path, data_dir):
    result = run_script("-m", *TINY, "model.d_model=16,32", f"paths.log_dir={tmp_path}",
                        f"paths.data_dir={data_dir}", "data.sizes={train:1500,dev:200,test:200}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(tmp_path.glob("multiruns/*/[0-9]"))
    assert len(jobs) == 2
    for job in jobs:
        assert (job / "tensorboard").is_dir() and (job / "tokenizer").is_dir()


@pytest.mark.slow
def test_optuna_sweep_two_trials(tmp_path, data_dir):
    result = run_script("hparams_search=optuna", "hydra.sweeper.n_trials=2", "debug=fdr",
                        f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}",
                        "data.sizes={train:1500,dev:200,test:200}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(tmp_path.glob("multiruns/*/[0-9]"))
    assert len(jobs) == 2
    assert "Best parameters" in result.stdout + result.stderr
    assert (jobs[0].parent / "optimization_results.yaml").is_file()


@pytest.mark.slow
def test_ddp_cpu_fast_dev_run(tmp_path, data_dir):
    result = run_script("trainer=ddp_cpu", "debug=fdr", f"paths.log_dir={tmp_path}",
                        f"paths.data_dir={data_dir}", "data.sizes={train:1500,dev:200,test:200}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run folder:" in result.stdout


@pytest.mark.slow
def test_default_experiment_learns(make_cfg):
    """The default single-head run, seed 42, all default epochs: measured test acc 0.861."""
    cfg = make_cfg("experiment=single_head", "data.sizes={train:20000,dev:2000,test:2000}",
                   "trainer.max_epochs=4", "callbacks.attention_heatmaps=null",
                   "callbacks.progress_bar=null")
    _, metrics = train(cfg)
    assert metrics["test/acc"] > 0.75  # majority class: 0.52
