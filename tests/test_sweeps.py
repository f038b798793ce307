"""Hydra multirun: one folder per job, compared in TensorBoard's HPARAMS; an Optuna sweep
survives a failing trial."""

import pytest
import torch
from helpers import TINY, read_events, run_script
from omegaconf import OmegaConf


@pytest.mark.slow
def test_basic_multirun_writes_one_folder_per_job_and_compares_in_hparams(tmp_path, data_dir):
    result = run_script("-m", *TINY, "experiment=single_head", "model.d_model=16,32",
                        f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}",
                        "data.sizes={train:1500,dev:200,test:200}")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(tmp_path.glob("multiruns/single_head/*/[0-9]_*"))
    assert [job.name for job in jobs] == ["0_d_model=16", "1_d_model=32"]  # swept values only, short
    widths = []
    for job in jobs:
        assert list(job.glob("events.out.tfevents.*")) and (job / "tokenizer").is_dir()
        checkpoint = torch.load(job / "checkpoints" / "last.ckpt", weights_only=True)
        widths.append(checkpoint["hyper_parameters"]["model"]["d_model"])
    assert widths == [16, 32]  # each job trained the model its override asked for
    columns = [hparams_columns(job) for job in jobs]
    for params, metrics in columns:
        assert {"model.d_model", "model.num_heads", "model.relative_bias", "model.directional_values",
                "optimizer.lr", "optimizer.weight_decay", "data.name", "data.batching", "data.batch_size",
                "data.max_len", "data.tokenizer", "seed", "experiment", "task", "trainer.max_epochs",
                "trainer.precision"} <= set(params)
        assert set(metrics) == {"val/acc_best", "test/acc", "test/f1", "attention/entropy",
                                "attention/dep_alignment", "attention/alignment_margin"}
        assert params["experiment"] == "single_head" and params["data.name"] == "default"
    assert [params["model.d_model"] for params, _ in columns] == [16, 32]  # the swept column differs
    assert "hp_metric" not in read_events(jobs[0]).Tags()["scalars"]
    seen_in_tensorboard(jobs[0].parent, [job.name for job in jobs])


def seen_in_tensorboard(sweep, job_names):
    """In a real browser at 1600 px: HPARAMS ticks the swept key, experiment and seed first, and
    the run list shows each job's name whole (the swept value first, no /tensorboard suffix)."""
    from tensorboard_ui import browser_page, need_browser, run_names_shown_whole, tensorboard, ticked_hparams

    need_browser()
    with tensorboard(sweep) as address, browser_page() as page:
        assert ticked_hparams(page, address)[:3] == ["experiment", "model.d_model", "seed"]
        assert run_names_shown_whole(page, address, job_names) == dict.fromkeys(job_names, True)


def hparams_columns(folder):
    """(hyperparameters, metric names) of a run, read back through TensorBoard's hparams plugin."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    params, metrics = {}, []
    for raw in read_events(folder).PluginTagToContent("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(raw)
        if data.HasField("session_start_info"):
            params = {k: v.number_value if v.HasField("number_value") else v.string_value
                      if v.HasField("string_value") else v.bool_value
                      for k, v in data.session_start_info.hparams.items()}
        if data.HasField("experiment"):
            metrics = [m.name.tag for m in data.experiment.metric_infos]
    return params, metrics


@pytest.mark.slow
def test_optuna_sweep_survives_a_failing_trial_and_lists_it(tmp_path, data_dir):
    """model.num_heads=64 cannot divide d_model=32: with seed 1231 the first trial draws 32."""
    result = run_script("hparams_search=optuna", "hydra.sweeper.n_trials=3",
                        "hydra.sweeper.sampler.seed=1231", "model.num_heads=64", "debug=fdr",
                        f"paths.log_dir={tmp_path}", f"paths.data_dir={data_dir}",
                        "data.sizes={train:1500,dev:200,test:200}",
                        "callbacks.attention_report=null")  # the sweep's bookkeeping is tested, not reports
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = sorted(tmp_path.glob("multiruns/*/*/[0-9]_*"))
    assert len(jobs) == 3
    assert "Best parameters" in result.stdout + result.stderr
    assert (jobs[0].parent / "optimization_results.yaml").is_file()
    trials = [set(OmegaConf.load(job / ".hydra" / "overrides.yaml")) for job in jobs]
    assert len({frozenset(t) for t in trials}) == 3  # the sampler proposed three different settings
    assert all(any(o.startswith("optimizer.lr=") for o in trial) for trial in trials)
    assert "d_model=32" in jobs[0].name and not (jobs[0] / "metrics.json").exists()
    assert all((job / "metrics.json").is_file() for job in jobs[1:])
    assert "sweep: 2 of 3 jobs finished" in result.stdout and f"failed: {jobs[0].name}" in result.stdout
