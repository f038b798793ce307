"""Training end to end: every experiment runs, TensorBoard gets figures and scalars, the loggers, early
stopping, the best checkpoint tested, DDP."""

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import hydra
import lightning as L
import pytest
import torch
from conftest import MINI_UD, ROOT
from helpers import TINY, experiment_overrides, read_events, run_script
from PIL import Image

from attn_project.analysis.mask_maps import analyse_split
from attn_project.analysis.rows import summary
from attn_project.commands.train import build_module, build_trainer, train
from attn_project.data.labels import IGNORE
from attn_project.training.callbacks.attention import AttentionMetrics
from attn_project.training.module import MaskedTokenModule

EXPERIMENTS = ["single_head", "multi_head", "ud_single_head", "ud_multi_head"]  # each also run (fdr)


@pytest.mark.parametrize("overrides, optimizer, scheduler, monitor", [
    (["optimizer=sgd", "scheduler=cosine"], "SGD", "CosineAnnealingLR", None),
    (["optimizer=adamw", "scheduler=none"], "AdamW", None, None),
    (["scheduler=plateau"], "AdamW", "ReduceLROnPlateau", "val/loss"),  # steps on val/loss: needs its monitor
])
def test_optimizer_and_scheduler_configs_train(make_cfg, overrides, optimizer, scheduler, monitor):
    cfg = make_cfg(*TINY, *overrides)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    module = build_module(cfg, dm)
    trainer = L.Trainer(max_epochs=1, limit_train_batches=3, limit_val_batches=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(module, datamodule=dm)
    assert type(trainer.optimizers[0]).__name__ == optimizer
    monitors = [c for c in build_trainer(cfg).callbacks if type(c).__name__ == "LearningRateMonitor"]
    assert len(monitors) == (1 if scheduler else 0)  # the learning rate is logged when it moves
    schedulers = [type(c.scheduler).__name__ for c in trainer.lr_scheduler_configs]
    assert schedulers == ([scheduler] if scheduler else [])
    assert [c.monitor for c in trainer.lr_scheduler_configs] == ([monitor] if scheduler else [])


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("name", EXPERIMENTS)
def test_fast_dev_run(make_cfg, tmp_path, name):
    """One batch of each loop: the monitored metric comes back, the loss is a two-class
    cross-entropy near an untrained model's ln 2, and the report describes this experiment's model."""
    cfg = make_cfg(*experiment_overrides(name), "debug=fdr")
    value, metrics = train(cfg)
    assert value == metrics[cfg.optimized_metric]
    for split in ("train", "val", "test"):
        assert abs(metrics[f"{split}/loss"] - math.log(2)) < 0.3, (split, metrics[f"{split}/loss"])
    assert 0.0 <= metrics["test/acc"] <= 1.0 and 0.0 <= metrics["test/balanced_acc"] <= 1.0
    report = json.loads((tmp_path / "run" / "report" / "attention_report.json").read_text())
    assert report["run"]["num_heads"] == cfg.model.num_heads
    assert len(report["after"]["per_head"]["entropy"]) == cfg.model.num_heads


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("batching", ["sentences", "examples"])
def test_short_run_logs_figures_per_epoch_and_scalars(make_cfg, tmp_path, batching):
    cfg = make_cfg("experiment=multi_head", "trainer.max_epochs=2", "trainer.log_every_n_steps=5",
                   f"data.batching={batching}")
    value, metrics = train(cfg)
    events = read_events(tmp_path / "run")
    figures = sorted(t for t in events.Tags()["images"] if t.startswith("attention/"))
    samples = cfg.data.num_samples
    assert figures == sorted([f"attention/sample{k}" for k in range(samples)]  # mask map + 4 heads
                             + [f"attention/sample{k}/L0H{h}" for k in range(samples) for h in range(4)])
    for tag in figures:  # TensorBoard's card width: shown unscaled
        assert Image.open(io.BytesIO(events.Images(tag)[0].encoded_image_string)).width == 290
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
    own, give the numbers of a plain-Python reference on the same dev sentences."""

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
                                          max_len=dm.settings.max_len, mask_id=dm.mask_id, pad_id=dm.pad_id),
                               optimizer={"_target_": "torch.optim.AdamW", "_partial_": True,
                                          "lr": 3e-2})  # high: the attention must move in 5 steps
    metrics = Recording(num_sentences=150)  # dev has 200: some validation rows are left out
    trainer = L.Trainer(max_epochs=1, limit_train_batches=5, limit_val_batches=val_batches, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, callbacks=[metrics])
    trainer.fit(module, datamodule=dm)
    assert len(metrics.logged) == 2  # before training, after the epoch
    assert metrics.own_passes == own_passes
    expected = naive_attention_summary(module.model, dm, 150)  # independent of the code under test
    assert abs(metrics.logged[0]["entropy"] - metrics.logged[1]["entropy"]) > 1e-2  # trained
    for key in ("entropy", "dep_alignment", "dep_mass"):
        assert metrics.logged[1][key] == pytest.approx(expected[key], abs=1e-5), key
    assert metrics.logged[1]["rows"] == expected["rows"]
    rows = analyse_split(module.model, dm.tensors["dev"], list(range(150)))
    assert summary(rows)["dep_alignment"] == pytest.approx(expected["dep_alignment"], abs=1e-6)


@torch.no_grad()
def naive_attention_summary(model, dm, n: int) -> dict:
    """Entropy, alignment and dependency mass of the first n dev sentences, one row at a time in
    plain Python (a reference written apart from analysis/metrics.py)."""
    entropies, aligned, masses = [], [], []
    model.eval()
    for index in range(n):
        sentence, labels = dm.sentences["dev"][index], dm.tensors["dev"].labels[index]
        t = len(sentence)
        _, maps = model.forward_all_masks(dm.tensors["dev"].ids[index, :t][None])  # [1, H, T, T]
        for i in range(t):
            if labels[i] == IGNORE or t == 1:
                continue
            linked = [j for j in range(t) if (sentence.heads[i] == j or sentence.heads[j] == i)
                      and sentence.upos[j] != "PUNCT"]  # analysis.punct_edges=false
            for row in maps[0, :, i].tolist():
                entropies.append(-sum(p * math.log(p) for p in row if p > 0) / math.log(t))
                others = [j for j in range(t) if j != i]
                top = max(others, key=lambda j: (row[j], -j))  # leftmost of the largest
                aligned.append(top in linked)
                masses.append(sum(row[j] for j in linked))
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    return {"entropy": mean(entropies), "dep_alignment": mean(aligned), "dep_mass": mean(masses),
            "rows": len(aligned) // model.num_heads}


@pytest.mark.slow
def test_ddp_cpu_fast_dev_run(tmp_path, data_dir):
    result = run_script("trainer=ddp_cpu", "debug=fdr", f"paths.log_dir={tmp_path}",
                        f"paths.data_dir={data_dir}", "data.sizes={train:1500,dev:200,test:200}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "run folder:" in result.stdout
    output = result.stdout + result.stderr
    assert "GLOBAL_RANK: 0, MEMBER: 1/2" in output and "GLOBAL_RANK: 1, MEMBER: 2/2" in output  # 2 procs
    assert output.count("trainable parameters of") == 1  # the model summary, once (rank zero)
    assert "FLOPs" not in output and "Flops" not in output  # Lightning's "Total FLOPs: 0" meant nothing


@pytest.mark.slow
def test_default_experiment_learns(make_cfg):
    """The default single-head run, seed 42, all default epochs: measured test acc 0.863
    (majority 0.521, bag of neighbours 0.788, ordered bigram 0.911)."""
    cfg = make_cfg("experiment=single_head", "data.sizes={train:20000,dev:2000,test:2000}",
                   "trainer.max_epochs=4", "callbacks.attention_heatmaps=null",
                   "callbacks.progress_bar=null")
    _, metrics = train(cfg)
    report = json.loads((Path(cfg.paths.output_dir) / "report" / "attention_report.json").read_text())
    assert metrics["test/acc"] > report["baselines"]["bag_of_neighbours"]["acc"] + 0.04
    assert metrics["test/acc"] == pytest.approx(0.863, abs=0.01)  # seeded: moves only with the code


@pytest.mark.slow  # trains a model or runs a command end to end
def test_an_attention_metric_can_be_the_optimized_metric(make_cfg):
    cfg = make_cfg(*TINY, "optimized_metric=attention/alignment_margin")
    value, metrics = train(cfg)
    assert value == metrics["attention/alignment_margin"]  # reached Lightning's callback_metrics
    assert -1 <= value <= 1 and metrics["attention/dep_alignment"] - value > 0  # minus the best offset


@pytest.mark.slow  # trains a model or runs a command end to end
def test_the_test_split_is_scored_with_the_best_checkpoint_not_the_last(make_cfg, tmp_path):
    """Monitoring val/acc in mode=min makes the *worst* epoch "best", so best ≠ last for sure."""
    from attn_project.training.checkpoint import load_run

    cfg = make_cfg("trainer.max_epochs=2", "callbacks.model_checkpoint.mode=min",
                   "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null",
                   "callbacks.attention_report=null")
    _, metrics = train(cfg)
    [best] = (tmp_path / "run" / "checkpoints").glob("epoch*.ckpt")
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()

    def test_acc(path):
        module = load_run(path).module
        trainer = L.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False)
        return trainer.test(module, datamodule=dm, verbose=False)[0]["test/acc"]

    assert metrics["test/acc"] == pytest.approx(test_acc(best), abs=1e-7)
    assert metrics["test/acc"] != pytest.approx(test_acc(last), abs=1e-7)


@pytest.mark.parametrize("treebank, words_of_first", [
    ("tr_mini", ["Ali", "kitabı", "okudu", "."]),  # head-final, multiword token Evdeki = Evde + ki
    ("ja_mini", ["猫", "が", "魚", "を", "食べ", "た", "。"]),  # no spaces; 食べた = 食べ + た
])
@pytest.mark.slow  # trains a model or runs a command end to end
def test_any_ud_language_trains_and_reports(make_cfg, tmp_path, treebank, words_of_first):
    cfg = make_cfg("experiment=ud_single_head", f"data.root={ROOT / 'tests' / 'fixtures' / treebank}",
                   "trainer.max_epochs=2", "data.min_frequency=1", "callbacks.progress_bar=null")
    _, metrics = train(cfg)
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    assert dm.sentences["train"][0].tokens == words_of_first  # words as the treebank segments them
    assert dm.tensors["train"].lengths[0] == len(words_of_first)  # one token per word: labels stay put
    report = json.loads((tmp_path / "run" / "report" / "attention_report.json").read_text())
    assert report["test"]["acc"] == pytest.approx(metrics["test/acc"], abs=1e-6)
    assert {"nsubj", "obj"} <= set(report["per_relation"])
    assert all(r["beats_position"] is None for r in report["per_relation"].values())  # n < 50: untested


def test_a_small_corpus_run_stops_early_and_says_why(make_cfg, tmp_path, caplog):
    cfg = make_cfg("experiment=ud_single_head", f"data.root={MINI_UD}", "data.min_frequency=1",
                   "data.min_epoch_sentences=64", "trainer.max_epochs=30",
                   "callbacks.early_stopping.patience=1",
                   "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null",
                   "callbacks.attention_report=null")
    # (set the level here: the test must not depend on what an earlier in-process test left behind)
    with caplog.at_level("INFO"), caplog.at_level("INFO", logger="lightning.pytorch"):
        train(cfg)
    assert any("did not improve in the last 1 records" in r.getMessage() and "Signaling Trainer to stop"
               in r.getMessage() for r in caplog.records)
    assert any(r.name == "attn_project.commands.train" and "stopped early after" in r.getMessage()
               and "val/balanced_acc did not improve for 1 validations" in r.getMessage()
               for r in caplog.records)
    last = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] < 29  # stopped well before trainer.max_epochs


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("logger, tensorboard", [("csv", False), ("many", True)])
def test_csv_and_many_loggers_get_every_scalar(make_cfg, tmp_path, logger, tensorboard):
    import csv

    train(make_cfg(*TINY, f"logger={logger}"))
    with (tmp_path / "run" / "csv" / "metrics.csv").open() as handle:
        columns = set(next(csv.reader(handle)))
    assert {"val/acc", "test/acc", "attention/entropy", "attention/alignment_margin"} <= columns
    assert bool(list((tmp_path / "run").glob("events.out.tfevents.*"))) == tensorboard
    assert (tmp_path / "run" / "report" / "attention_report.json").is_file()  # written whatever logs


@pytest.mark.slow  # trains a model or runs a command end to end
def test_runs_from_another_folder_write_into_the_project(tmp_path, data_dir):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "train.py"), "debug=fdr",
                             f"paths.data_dir={data_dir}", "data.sizes={train:1500,dev:200,test:200}"],
                            cwd=elsewhere, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    run = Path(result.stdout.split("run folder: ")[1].split()[0])
    try:
        assert run.is_relative_to(ROOT / "logs" / "runs") and not any(elsewhere.iterdir())
    finally:
        import shutil

        shutil.rmtree(run, ignore_errors=True)


def test_wandb_logger_offline_gets_scalars_and_images(make_cfg, tmp_path, monkeypatch):
    pytest.importorskip("wandb")  # an optional dependency: pip install -e ".[wandb]"
    monkeypatch.setenv("WANDB_MODE", "offline")
    train(make_cfg(*TINY, "logger=wandb"))
    [run] = (tmp_path / "run" / "wandb").glob("offline-run-*")
    records = next(run.glob("run-*.wandb")).read_bytes()  # the offline log, to `wandb sync` later
    assert b"test/acc" in records and b"attention/entropy" in records and b"model.d_model" in records
    images = sorted(p.name for p in (run / "files" / "media" / "images" / "attention").glob("*.png"))
    assert any(name.startswith("sample0_") for name in images)  # the heat maps, not only TensorBoard
