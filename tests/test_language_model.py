"""A language model trained end to end through Lightning and Hydra (experiment=lm_mlm / lm_causal):
checkpoints at the log-spaced steps, held-out metrics, and a causal one exported to a GPT-2 folder
that transformers loads with the same logits."""

import json
import math
import subprocess
import sys

import pytest
import torch
from conftest import ROOT
from helpers import run_script

from attn_project.commands.train_lm import load_language_model

SMALL = ["model=lm_tiny", "data.generated_sizes={train: 400, dev: 80, test: 80}", "data.batch_size=16",
         "trainer.max_steps=60", "trainer.val_check_interval=30", "callbacks.progress_bar=null", "threads=1"]


def train_lm(objective, tmp_path_factory):
    out = tmp_path_factory.mktemp(objective)
    result = run_script(f"experiment=lm_{objective}", *SMALL, f"hydra.run.dir={out / 'run'}",
                        f"paths.data_dir={out / 'data'}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    return out / "run"


def export_hf(*args):
    result = subprocess.run([sys.executable, "scripts/export_hf.py", *args], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def mlm_run(tmp_path_factory):
    return train_lm("mlm", tmp_path_factory)


@pytest.mark.slow  # trains a model
def test_a_masked_lm_trains_with_log_spaced_checkpoints_and_held_out_metrics(mlm_run):
    names = sorted(p.name for p in (mlm_run / "checkpoints").glob("*.ckpt"))
    assert names == [f"step_{s:07d}.ckpt" for s in (0, 10, 20, 50, 60)]
    metrics = json.loads((mlm_run / "metrics.json").read_text())
    assert metrics["test/perplexity"] == pytest.approx(math.exp(metrics["test/loss"]), rel=1e-4)
    assert 0 <= metrics["test/top1"] <= metrics["test/top5"] <= 1
    assert 0 <= metrics["test/one_masked/top1"] <= metrics["test/one_masked/top5"] <= 1  # same positions
    difference = "test/one_masked_minus_trigram_kn/top1"  # paired per word, sentence-bootstrap interval
    assert metrics[f"{difference}_ci95_low"] <= metrics[difference] <= metrics[f"{difference}_ci95_high"]
    assert metrics[difference] == pytest.approx(
        metrics["test/one_masked/top1"] - metrics["baseline/trigram_kn/acc"], abs=1e-9)
    for name in ("unigram", "left_bigram", "bigram"):  # the n-gram baselines on the same test positions
        assert 0 < metrics[f"baseline/{name}/acc"] <= metrics[f"baseline/{name}/top5_acc"] <= 1
    first = load_language_model(mlm_run / "checkpoints" / "step_0000000.ckpt")[0]
    last = load_language_model(mlm_run / "checkpoints" / "step_0000060.ckpt")[0]
    assert not torch.equal(first.encoder.tokens.weight, last.encoder.tokens.weight)  # it trained
    vocab = first.config.vocab_size  # trained 60 steps: below a uniform guess's log V, far from zero
    assert math.log(vocab) * 0.5 < metrics["test/loss"] < math.log(vocab) + 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    drawn = {}  # every head on fixed dev sentences, at each log-spaced step, in TensorBoard
    for events in mlm_run.glob("events.out.tfevents.*"):
        accumulator = EventAccumulator(str(events), size_guidance={"images": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["images"]:
            drawn.setdefault(tag, set()).update(e.step for e in accumulator.Images(tag))
    assert drawn == {f"lm_attention/dev_sentence{k}": {0, 10, 20, 50, 60} for k in (0, 1)}


@pytest.mark.slow  # trains a model
def test_a_causal_lm_exports_to_gpt2_with_the_same_logits(tmp_path_factory, tmp_path):
    from transformers import AutoModelForCausalLM

    run = train_lm("causal", tmp_path_factory)
    checkpoint = run / "checkpoints" / "step_0000060.ckpt"
    code, output = export_hf(f"ckpt_path={checkpoint}", f"out={tmp_path / 'hf'}")
    assert code == 0, output
    model, _ = load_language_model(checkpoint)
    ids = torch.randint(3, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    torch.testing.assert_close(loaded(input_ids=ids).logits, model(ids)[0], atol=1e-4, rtol=1e-4)


def test_export_refuses_what_is_not_a_language_model_checkpoint(tmp_path):
    bogus = tmp_path / "x.ckpt"
    torch.save({"state_dict": {}}, bogus)
    code, output = export_hf(f"ckpt_path={bogus}", f"out={tmp_path / 'hf'}")
    assert code != 0 and "not a language-model checkpoint" in output and not (tmp_path / "hf").exists()
    code, output = export_hf("ckpt=oops")
    assert code != 0 and "ckpt_path" in output


@pytest.mark.parametrize("override, message", [
    ("data.vocab_size=0", "data.vocab_size=0: must exceed the 3 special tokens"),
    ("data.batch_size=4000", "fewer than one batch (data.batch_size=4000)"),
])
def test_bad_language_model_settings_get_one_line_naming_the_key(tmp_path, override, message):
    result = run_script("experiment=lm_mlm", *SMALL, override, f"hydra.run.dir={tmp_path / 'run'}",
                        f"paths.data_dir={tmp_path / 'data'}")
    assert result.returncode != 0 and message in result.stderr, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and not list((tmp_path / "run").glob("checkpoints/*.ckpt"))


@pytest.mark.slow  # trains until the loss breaks
def test_a_nan_loss_stops_the_language_model_naming_the_step_and_keeps_its_checkpoints(tmp_path):
    result = run_script("experiment=lm_causal", *SMALL, "lm.lr=1e12", "lm.warmup_steps=1",
                        f"hydra.run.dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}")
    assert result.returncode != 0, result.stdout[-2000:]
    assert "training loss became nan at step" in result.stderr and "lm.lr=1000000000000.0" in result.stderr
    kept = sorted((tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert kept and kept[0].name == "step_0000000.ckpt"
    model, _ = load_language_model(kept[-1])  # the last one written before the loss broke: finite weights
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow  # the lens on every checkpoint of the trained masked LM
def test_the_lens_over_training_reads_every_checkpoint(mlm_run, tmp_path):
    import csv

    from attn_project.commands.lens_over_training import CSV_COLUMNS

    out = tmp_path / "lens"
    result = subprocess.run([sys.executable, "scripts/lens_over_training.py", f"run_dir={mlm_run}",
                             f"out={out}", "analysis.bootstrap_resamples=100", "threads=1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((out / "lens_over_training.json").read_text())  # no data.root: the run's own trees
    assert summary["corpus"] == str(mlm_run.parent / "data" / "generated" / "lm_default_400-80-80")
    with open(out / "lens_over_training.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_COLUMNS
    assert sorted({int(r["step"]) for r in rows}) == [0, 10, 20, 50, 60]  # every checkpoint
    for r in rows:
        assert float(r["best_head_lo"]) <= float(r["best_head_acc"]) <= float(r["best_head_hi"])
        if r["step"] == "0":  # the untrained model is what later checkpoints are compared with
            assert r["changed_by_training"] == ""
    by_relation: dict = {}  # the offset baseline reads no model: the same at every checkpoint
    for r in rows:
        by_relation.setdefault((r["relation"], r["direction"]), set()).add((r["offset"], r["offset_acc"]))
    assert all(len(offsets) == 1 for offsets in by_relation.values())
    ablated = {(a["relation"], a["ablated"]) for a in summary["ablation"]}  # the generated corpus has det
    assert ("det", "best head") in ablated and ("det", "random head of its layer") in ablated
    assert all(r["category_rule"] for r in rows if r["relation"] == "det" and r["direction"] == "to_head")
    losses = [c["treebank_loss"] for c in summary["checkpoints"]]
    for c in summary["checkpoints"]:  # the spanning tree's score, and the chain's, on every checkpoint
        assert 0 <= c["mst_uas_ci95"][0] <= c["mst_uas"] <= c["mst_uas_ci95"][1] <= 1
        assert 0 < c["chain_uas"] < 1
    assert losses[-1] < losses[0]  # it learned the generated corpus's words
    assert (out / "emergence.png").stat().st_size > 10_000 and list(out.glob("events.out.tfevents.*"))
    missing = subprocess.run([sys.executable, "scripts/lens_over_training.py", f"run_dir={tmp_path}"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert missing.returncode != 0 and f"run_dir={tmp_path}: no checkpoints" in missing.stderr


@pytest.mark.slow  # evaluates the trained masked LM again
def test_eval_tests_a_language_model_checkpoint_on_its_runs_held_out_text(mlm_run):
    checkpoint = mlm_run / "checkpoints" / "step_0000060.ckpt"  # no "=" in the name: a plain override
    result = subprocess.run([sys.executable, "scripts/eval.py", f"ckpt_path={checkpoint}", "threads=1"],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(mlm_run.glob("eval/*/metrics.json"))
    evaluated = json.loads(written[-1].read_text())
    trained = json.loads((mlm_run / "metrics.json").read_text())
    assert evaluated["step"] == 60
    for key in ("test/loss", "test/top1", "test/one_masked/top1", "baseline/trigram_kn/acc",
                "baseline/bigram/acc"):
        assert evaluated[key] == pytest.approx(trained[key], rel=1e-5), key  # same weights, words, masks


@pytest.mark.slow  # two processes
def test_a_language_model_trains_under_two_process_ddp_on_cpu(tmp_path):
    result = run_script("experiment=lm_mlm", "trainer=ddp_cpu", *SMALL, "trainer.max_steps=20",
                        "trainer.val_check_interval=10", f"hydra.run.dir={tmp_path / 'run'}",
                        f"paths.data_dir={tmp_path / 'data'}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    names = sorted(p.name for p in (tmp_path / "run" / "checkpoints").glob("*.ckpt"))
    assert names == ["step_0000000.ckpt", "step_0000010.ckpt", "step_0000020.ckpt"]  # rank 0 writes them
    assert 0 <= json.loads((tmp_path / "run" / "metrics.json").read_text())["test/top5"] <= 1


def train_losses(run, tag: str = "train/loss") -> dict:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = {}
    for events in sorted(run.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        if tag in accumulator.Tags()["scalars"]:
            out |= {e.step: e.value for e in accumulator.Scalars(tag)}
    return out


@pytest.mark.slow  # trains again from a checkpoint
def test_resuming_mid_epoch_logs_the_losses_of_the_uninterrupted_run(mlm_run, tmp_path):
    """Step 10 is mid-epoch (25 batches an epoch); resumed there, the run goes on through two epoch
    boundaries with the same batches, masks and losses as the run that was never stopped."""
    checkpoint = mlm_run / "checkpoints" / "step_0000010.ckpt"
    result = run_script("experiment=lm_mlm", *SMALL, f"ckpt_path={checkpoint}", "test=false",
                        f"hydra.run.dir={tmp_path / 'run'}", f"paths.data_dir={tmp_path / 'data'}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    resumed, uninterrupted = train_losses(tmp_path / "run"), train_losses(mlm_run)
    assert sorted(resumed) == [s for s in sorted(uninterrupted) if s > 10] and len(resumed) >= 4
    assert all(resumed[s] == pytest.approx(uninterrupted[s], abs=1e-6) for s in resumed)
    tokens, all_along = (train_losses(run, "train/tokens") for run in (tmp_path / "run", mlm_run))
    assert all(tokens[s] == all_along[s] for s in tokens) and len(tokens) >= 4  # counted on from step 10


def test_a_resumed_schedule_follows_the_new_total_steps():
    """ckpt_path=… with a larger trainer.max_steps: the schedule's saved state must not carry the old
    total, so the learning rate is the longer cosine's at the resumed step (a warm restart)."""
    from attn_project.training.lm_module import LanguageModelModule, warmup_cosine

    model = {"vocab_size": 16, "max_len": 8, "d_model": 16, "num_heads": 2, "num_layers": 1}
    module = LanguageModelModule(model, lr=1e-3, warmup_steps=2, min_lr_ratio=0.1)
    optimizer, schedule = module.optimizer_and_schedule(total_steps=30)
    for _ in range(30):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-4)  # at the floor
    resumed, longer = module.optimizer_and_schedule(total_steps=60)
    resumed.load_state_dict(optimizer.state_dict())
    longer.load_state_dict(schedule.state_dict())
    longer.step()
    assert resumed.param_groups[0]["lr"] == pytest.approx(1e-3 * warmup_cosine(31, 2, 60, 0.1))  # ≈ 5e-4
