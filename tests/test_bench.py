"""scripts/bench.py's measurements run and report every key (speed itself is not asserted)."""

import json
import logging
import sys
import warnings

import pytest

from attn_project.commands import bench as bench_module
from attn_project.commands import cli
from attn_project.commands.bench import run_benchmarks

KEYS = ["lightning_vs_raw", "lightning_step_overhead_ms", "loss_match", "callback_overhead",
        "callback_hook_share", "callback_fit_start_s", "callback_epoch_s", "scratch_vs_fused",
        "examples_per_s", "epoch_s", "epoch_s_examples", "mfu", "device", "torch",
        "lightning", "threads"]


@pytest.mark.slow
def test_bench_reports_every_figure_on_a_small_run():
    result = run_benchmarks(None, "cpu", reps=1, train_sentences=300, log=lambda line: None)
    for key in KEYS:
        assert key in result, key
    assert result["loss_match"] is True  # Lightning and the plain loop computed the same numbers
    assert 0 < result["mfu"] < 1 and result["epoch_s"] > 0 and result["examples_per_s"] > 0
    assert 0 < result["callback_hook_share"] < 5  # the hooks ran and were timed
    assert result["callback_fit_start_s"] > 0 and result["callback_epoch_s"] > 0  # both parts timed
    # every derived figure is computed from the measured ones it names
    assert result["train_sentences"] == 300 and result["batch_size"] == 64  # batching restored
    assert result["lightning_vs_raw"] == pytest.approx(result["epoch_s"] / result["raw_epoch_s"])
    assert result["lightning_step_overhead_ms"] == pytest.approx(
        (result["epoch_s"] - result["raw_epoch_s"]) / result["train_steps"] * 1000)
    assert "epoch_s_sentences" not in result and "lightning_epoch_s" not in result  # one key, one number
    assert result["examples_per_s"] == pytest.approx(result["train_examples"] / result["epoch_s"])
    assert result["mfu"] == pytest.approx(result["train_flops_per_epoch"] / result["epoch_s"]
                                          / result["peak_flops"])
    assert result["fit_overhead_s"] > 0 and result["epoch_s_examples"] > 0


def test_attn_bench_quiets_lightning_only_while_it_runs(monkeypatch, capsys, caplog):
    caplog.set_level(logging.INFO, logger="lightning.pytorch")  # put back after the test
    logger = logging.getLogger("lightning.pytorch")
    filters_before = list(warnings.filters)
    seen = {}

    def fake_benchmarks(*args, **kwargs):
        seen["level"] = logger.level
        print("┏━━━ a model summary Lightning prints ━━━┓")  # must not reach stdout
        warnings.warn("a warning the benchmark would print", UserWarning, stacklevel=2)  # ignored inside
        return {"epoch_s": 1.0}

    monkeypatch.setattr(bench_module, "run_benchmarks", fake_benchmarks)
    monkeypatch.setattr(sys, "argv", ["attn-bench", "--reps", "1"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cli.bench()
    assert seen["level"] == logging.ERROR and not caught  # quiet while it ran
    assert logger.level == logging.INFO and list(warnings.filters) == filters_before  # restored after
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"epoch_s": 1.0}  # stdout: the JSON object alone
    assert "a model summary" in captured.err


def test_study_benchmark_finds_every_job_line_in_interleaved_output():
    from attn_project.commands.study_bench import job_lines

    output = ("Seed set to 1\nwarning: xjob #0 with overrides ['seed=1'] finished in 3 s: test/acc=0.8\n"
              "job #1 with overrides ['seed=2'] finished in 4 s: test/acc=0.9job #2 with overrides "
              "['seed=3'] finished in 5 s: test/acc=0.7\n\nsweep: 3 of 3 jobs finished in /x\n")
    assert job_lines(output) == ["job #0 with overrides ['seed=1'] finished in 3 s: test/acc=0.8",
                                 "job #1 with overrides ['seed=2'] finished in 4 s: test/acc=0.9",
                                 "job #2 with overrides ['seed=3'] finished in 5 s: test/acc=0.7"]


def test_depth_benchmark_times_each_setting_and_divides_by_the_one_layer_epoch(monkeypatch):
    """The three settings each get one epoch on their own config; the ratios are those epochs'."""
    seen = []

    def fake_epoch(cfg, dm, device):
        seen.append((cfg.model.num_layers, cfg.data.batching, cfg.model.num_heads))
        share = 0.3 if cfg.data.batching == "random_masks" else 1
        return 0.0, {1: 2.0, 2: 10.0}[cfg.model.num_layers] * share

    monkeypatch.setattr(bench_module, "lightning_epoch", fake_epoch)
    from conftest import MINI_UD

    result = bench_module.depth_benchmark(str(MINI_UD), "cpu", 1, log=lambda line: None)
    assert seen == [(1, "sentences", 1), (2, "examples", 4), (2, "random_masks", 4)]
    assert result["two_layers_examples_vs_one_layer"] == pytest.approx(5.0)
    assert result["two_layers_random_masks_vs_one_layer"] == pytest.approx(1.5)


LM_KEYS = ["mlm_tokens_per_s_1_thread", "causal_tokens_per_s_1_thread", "lightning_vs_plain", "loss_match",
           "ours_vs_hf", "mfu", "weights_cost", "train_flops", "peak_flops", "device"]


@pytest.mark.slow
def test_the_language_model_bench_reports_every_figure(tmp_path):
    from attn_project.commands.lm_bench import lm_benchmark

    result = lm_benchmark("lm_tiny", steps=3, reps=1, log=lambda line: None,
                          overrides=["data.generated_sizes={train:300,dev:40,test:40}",
                                     f"data.cache_dir={tmp_path}"])
    for key in LM_KEYS:
        assert key in result, key
    assert result["loss_match"] is True  # Lightning and the plain loop took the same steps
    assert 0 < result["mfu"] < 1 and result["ours_vs_hf"] > 0 and result["weights_cost"] > 0
    assert result["train_flops"] > 0 and result["mlm_tokens_per_s_1_thread"] > 0
