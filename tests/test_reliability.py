"""Resume after SIGINT/SIGTERM, determinism, non-finite losses, safe checkpoints, failing sweeps."""

import http.server
import json
import pathlib
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch
from conftest import ROOT, compose_cfg

from attn_project.commands.train import train
from attn_project.training.checkpoint import CheckpointError

# batches of 16: an epoch of ~1.5 s, so a signal sent 0.3 s after last.ckpt appears lands in training even
# when the test's process is slow to notice the file on a loaded machine (with 64 it came after the fit)
RESUME = ["data.sizes={train:4000,dev:300,test:300}", "trainer.max_epochs=4", "data.batch_size=16",
          "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null", "model.dropout=0.1"]


def default_signals() -> None:
    """In the child: SIGINT and SIGTERM as a shell gives them. A child inherits ignored signals, and a
    pytest worker may ignore SIGINT; the run would then never see the signal this test sends."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(run_dir, data_dir, *extra):
    return subprocess.Popen(
        [sys.executable, "scripts/train.py", *RESUME, f"paths.data_dir={data_dir}",
         f"hydra.run.dir={run_dir}", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)


def report_of(run_dir):
    return json.loads((run_dir / "report" / "attention_report.json").read_text())


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, data_dir):
    run_dir = tmp_path_factory.mktemp("uninterrupted") / "run"
    process = start(run_dir, data_dir)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return report_of(run_dir)


def interrupt_after_an_epoch(run_dir, data_dir, signum, *extra):
    """Start a run, send ``signum`` once it has written last.ckpt, and return that checkpoint."""
    process = start(run_dir, data_dir, *extra)
    last = run_dir / "checkpoints" / "last.ckpt"
    deadline = time.time() + 300
    while not last.exists() and process.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0, (f"a run interrupted by {signum!r} must not exit with status 0; "
                                     f"its output ends: {(out + err)[-3000:]}")
    assert last.exists() and "ckpt_path=" in out + err
    return last


@pytest.mark.slow
def test_interrupted_run_resumes_to_the_same_result_after_sigint_and_sigterm(
        tmp_path, data_dir, uninterrupted):
    """SIGINT, resume; SIGTERM to the resumed run, resume again: the same numbers as never stopped."""
    first = interrupt_after_an_epoch(tmp_path / "a", data_dir, signal.SIGINT)
    first_epoch = torch.load(first, weights_only=True)["epoch"]
    second = interrupt_after_an_epoch(tmp_path / "b", data_dir, signal.SIGTERM, f"ckpt_path={first}")
    second_epoch = torch.load(second, weights_only=True)["epoch"]
    assert first_epoch < second_epoch < 3, "a signal came too late to interrupt anything"

    resumed = start(tmp_path / "c", data_dir, f"ckpt_path={second}")
    _, err = resumed.communicate(timeout=600)
    assert resumed.returncode == 0, err[-3000:]
    report = report_of(tmp_path / "c")
    assert report["test"] == uninterrupted["test"]
    assert report["after"] == uninterrupted["after"]
    assert report["before"] == uninterrupted["before"]  # the untrained snapshot came along, twice


@pytest.mark.slow
def test_same_seed_same_numbers_other_seed_other_numbers(tmp_path, data_dir):
    def run(seed, name):
        cfg = compose_cfg(tmp_path / name, data_dir, "trainer.max_epochs=1", f"seed={seed}",
                          "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null")
        _, metrics = train(cfg)
        return metrics, report_of(tmp_path / name / "run")

    first, second, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert first[0]["test/acc"] == second[0]["test/acc"]
    assert first[1]["after"] == second[1]["after"] and first[1]["before"] == second[1]["before"]
    assert first[0]["test/acc"] != other[0]["test/acc"] or first[1]["after"] != other[1]["after"]


@pytest.mark.slow  # trains a model or runs a command end to end
def test_non_finite_loss_end_to_end(tmp_path, data_dir):
    result = subprocess.run(
        [sys.executable, "scripts/train.py", "model.embedding_std=1e30", "trainer.max_epochs=1",
         "data.sizes={train:1500,dev:200,test:200}", f"paths.data_dir={data_dir}",
         f"hydra.run.dir={tmp_path}/run", "callbacks.progress_bar=null"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert "training loss became nan at step 0" in result.stderr
    assert "Traceback" not in result.stderr
    output = result.stdout + result.stderr  # a quiet console: no advertising, no library deprecations
    assert "💡 Tip" not in output and "LeafSpec" not in output
    assert "trainable parameters of" in output  # the model summary, at the start of fit
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))


@pytest.mark.slow
def test_failing_sweep_job_does_not_stop_the_others(tmp_path, data_dir):
    result = subprocess.run(
        [sys.executable, "scripts/train.py", "-m", "model.num_heads=3,1", "model.d_model=16",
         "trainer.max_epochs=1", "++trainer.limit_train_batches=3", "++trainer.limit_val_batches=2",
         "data.sizes={train:1500,dev:200,test:200}", f"paths.data_dir={data_dir}",
         f"paths.log_dir={tmp_path}"],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode != 0  # the sweep says that something failed
    jobs = sorted(tmp_path.glob("multiruns/*/*/[0-9]_*"))
    assert len(jobs) == 2
    assert (jobs[1] / "report" / "attention_report.json").is_file()  # job 1 ran after job 0 failed
    log = result.stdout + result.stderr + (jobs[0] / "train.log").read_text()
    assert "model.num_heads=3" in log and "must be ≥ 1 and divide model.d_model=16" in log


def test_resume_from_a_url_is_refused_before_any_request(tmp_path, data_dir):
    """A pickled payload served over HTTP: refused by its URL, never fetched, never run."""
    marker = tmp_path / "pwned"
    torch.save({"payload": Touch(str(marker))}, tmp_path / "evil.ckpt", pickle_protocol=2)
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            requests.append(args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/evil.ckpt"
    try:
        with pytest.raises(CheckpointError, match="URLs are refused"):
            train(compose_cfg(tmp_path, data_dir, f"ckpt_path={url}", "trainer.max_epochs=1"))
    finally:
        server.shutdown()
    assert not requests and not marker.exists()
    assert not list((tmp_path / "run").glob("checkpoints/*.ckpt"))


class Touch:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.path),))


@pytest.mark.parametrize("attack", ["delete a folder", "test a file from elsewhere"])
def test_crafted_best_checkpoint_state_deletes_nothing_and_is_not_tested(tmp_path, data_dir, trained_ckpt,
                                                                        attack):
    """Plain data (it passes weights_only=True) naming a folder to delete or a file to test."""
    victim = tmp_path / "victim"
    (victim / "keep").mkdir(parents=True)
    outside = tmp_path / "elsewhere" / "epoch99-acc0.9900.ckpt"
    outside.parent.mkdir()
    outside.write_bytes(trained_ckpt.read_bytes())
    path, score = (f"local://{victim}", 0.0) if attack == "delete a folder" else (str(outside), 0.99)
    checkpoint = torch.load(trained_ckpt, weights_only=True)
    [key] = [k for k in checkpoint["callbacks"] if k.startswith("BestCheckpoint")]
    checkpoint["callbacks"][key].update(
        best_k_models={path: torch.tensor(score)}, kth_best_model_path=path, best_model_path=path,
        kth_value=torch.tensor(score), best_model_score=torch.tensor(score))
    crafted = tmp_path / "crafted.ckpt"
    torch.save(checkpoint, crafted)
    run = tmp_path / "resumed"
    train(compose_cfg(run, data_dir, f"ckpt_path={crafted}", "trainer.max_epochs=2", "data.max_len=20",
                      "++trainer.limit_train_batches=3", "callbacks.progress_bar=null",
                      "callbacks.attention_heatmaps=null", "callbacks.attention_report=null"))
    assert (victim / "keep").is_dir() and outside.is_file()  # nothing outside the run was deleted
    # the crafted state was dropped: this run saved (and so tested) its own best epoch
    assert list((run / "run" / "checkpoints").glob("epoch*.ckpt"))
