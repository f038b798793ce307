"""Threads chosen, not inherited; a parallel launcher sized from the machine; a study benchmark."""

import json
import logging

import pytest
import torch
from conftest import compose_cfg

from attn_project.errors import ConfigError
from attn_project.run import threads
from attn_project.run.threads import choose_threads, jobs_for_machine, set_threads


@pytest.mark.parametrize("setting, cores, jobs, env, expected", [
    ("auto", 2, 1, {}, 1),                            # one thread per job: measured faster here
    ("auto", 16, 1, {}, threads.AUTO_PER_JOB),
    ("auto", 2, 4, {}, 1),                            # more jobs than cores: still one each
    ("auto", 2, 1, {"OMP_NUM_THREADS": "2"}, 2),      # the environment is honoured
    ("auto", 2, 1, {"OMP_NUM_THREADS": " "}, 1),      # set but empty: as if unset
    (3, 2, 1, {"OMP_NUM_THREADS": "2"}, 3),           # an explicit number wins
])
def test_thread_choice(setting, cores, jobs, env, expected):
    chosen, why = choose_threads(setting, cores, jobs, env)
    assert chosen == expected and why


@pytest.mark.parametrize("setting, env, key", [
    (0, {}, "threads=0"), ("many", {}, "threads='many'"), (True, {}, "threads=True"),
    ("auto", {"OMP_NUM_THREADS": "all"}, "OMP_NUM_THREADS='all'"),
])
def test_bad_thread_settings_name_the_key(setting, env, key):
    with pytest.raises(ConfigError, match=key):
        choose_threads(setting, 2, 1, env)


def test_auto_follows_affinity_and_parallel_jobs(monkeypatch):
    monkeypatch.setattr(threads, "AUTO_PER_JOB", 4)  # as if more threads had measured faster
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5, 6, 7})
    assert choose_threads("auto", threads.usable_cores(), 1, {})[0] == 4
    assert choose_threads("auto", threads.usable_cores(), 4, {})[0] == 2   # 8 cores ÷ 4 jobs
    assert jobs_for_machine() == 8 and jobs_for_machine(threads_per_job=3) == 2


def test_set_threads_sets_torch_and_says_why_once(monkeypatch, caplog):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        with caplog.at_level(logging.INFO, logger="attn_project.run.threads"):
            assert set_threads(2) == 2 and torch.get_num_threads() == 2
            assert set_threads("auto") == 1 and torch.get_num_threads() == 1
        lines = [r.getMessage() for r in caplog.records if r.name == "attn_project.run.threads"]
        assert lines == ["torch threads: 2 (threads setting)", lines[1]] and "auto:" in lines[1]
    finally:
        torch.set_num_threads(before)


def test_parallel_launcher_composes_with_jobs_from_the_machine(tmp_path, data_dir, monkeypatch):
    monkeypatch.setattr(threads.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5})
    cfg = compose_cfg(tmp_path, data_dir, "hydra/launcher=parallel")
    assert cfg.hydra.launcher._target_.endswith("JoblibLauncher")
    assert cfg.hydra.launcher.n_jobs == 6 and cfg.threads == "auto"


@pytest.mark.slow
def test_parallel_study_benchmark_end_to_end(tmp_path):
    """Two jobs at once (fresh data folder: atomic writes keep the shared corpus whole), each with
    one thread, one line per finished job, two complete run folders, and their study."""
    from attn_project.commands.study_bench import run_study_benchmark

    lines = []
    tiny = ["trainer.max_epochs=1", "++trainer.limit_train_batches=3", "++trainer.limit_val_batches=2",
            "data.sizes={train:1500,dev:200,test:200}", "model.d_model=16",
            f"paths.data_dir={tmp_path}/data", f"paths.log_dir={tmp_path}/logs"]
    result = run_study_benchmark(["single_head"], [1, 2], tiny, launchers=["parallel"],
                                 out=tmp_path / "sweeps", log=lines.append)
    figures = result["parallel"]
    assert figures["runs"] == 2 and figures["skipped"] == 0 and figures["threads"] == [1]
    assert figures["jobs"] == jobs_for_machine() and 0 < figures["test_acc"]["single_head"] <= 1
    assert figures["runs_per_hour"] == pytest.approx(3600 * 2 / figures["wall_s"], rel=0.01)
    assert sum(line.startswith("job #") for line in lines) == 2, lines
    jobs = sorted((tmp_path / "sweeps" / "parallel").glob("[0-9]_*"))
    assert len(jobs) == 2 and all((job / "report" / "attention_report.json").is_file() for job in jobs)
    assert all(json.loads((job / "metrics.json").read_text())["test/acc"] > 0 for job in jobs)
    assert not list((tmp_path / "data").rglob("*.tmp"))  # no half-written files left behind
    assert "speedup" not in result  # only with both launchers
