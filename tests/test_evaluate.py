"""eval.py: a checkpoint evaluated on its own data, written beside its run, composing with
every experiment."""

import json
import subprocess
import sys

import hydra
import pytest
from conftest import MINI_UD, ROOT
from helpers import ALL_EXPERIMENTS, experiment_overrides
from omegaconf import OmegaConf

from attn_project.commands.train import train


@pytest.mark.slow  # trains a model or runs a command end to end
def test_eval_uses_the_runs_own_data_and_reproduces_its_test_accuracy(make_cfg, tmp_path):
    import shutil

    treebank = tmp_path / "treebank"
    shutil.copytree(MINI_UD, treebank)
    cfg = make_cfg("experiment=ud_single_head", f"data.root={treebank}", "trainer.max_epochs=2",
                   "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null")
    _, metrics = train(cfg)
    [best] = (tmp_path / "run" / "checkpoints").glob("epoch*.ckpt")

    def evaluate(*extra):
        return subprocess.run([sys.executable, "scripts/eval.py", f"ckpt_path={best}",
                               f"hydra.run.dir={tmp_path}/eval", *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)

    last = subprocess.run([sys.executable, "scripts/eval.py", f"ckpt_path={best.parent / 'last.ckpt'}",
                           f"hydra.run.dir={tmp_path}/eval_last"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert f"the run tested its best checkpoint by val/acc, {best.name}" in last.stdout, last.stdout[-2000:]
    result = evaluate()  # no data named: the treebank the run trained on, not the default corpus
    assert result.returncode == 0, result.stderr[-2000:]
    console = result.stdout + result.stderr
    assert console.count("Seed set to 42") == 1, console  # one handler per line, not Lightning's and Hydra's
    assert f"{treebank}/en_mini-ud-test.conllu" in result.stdout
    assert "the data the run trained on" in result.stdout
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert written["test/acc"] == metrics["test/acc"]  # exactly the run's own test accuracy
    recorded = OmegaConf.load(tmp_path / "eval" / ".hydra" / "config.yaml").model
    assert recorded.relative_bias is True and recorded.dropout == 0.1  # the model evaluated, not eval.yaml's
    other = evaluate("experiment=ud_multi_head")  # another model than the checkpoint's: refused
    assert other.returncode == 2 and "model.num_heads=4 (the checkpoint's: 1)" in other.stderr, other.stderr
    before = sorted(p.relative_to(treebank) for p in treebank.rglob("*"))
    trap = evaluate(f"data.root={treebank}")  # without data=ud: the eval config's data=default would remain
    assert trap.returncode == 2 and "the run trained on data=ud" in trap.stderr
    assert "add data=ud" in trap.stderr
    forced = evaluate("data=default", f"data.root={treebank}")  # named: but never written into a treebank
    assert forced.returncode == 2 and "a treebank folder (en_mini-ud-" in forced.stderr, forced.stderr[-2000:]
    assert sorted(p.relative_to(treebank) for p in treebank.rglob("*")) == before  # nothing written into it
    shutil.rmtree(treebank)
    gone = evaluate()
    assert gone.returncode == 2 and f"data.root={treebank}, is gone" in gone.stderr


def test_eval_writes_only_where_this_machine_says(make_cfg, tmp_path):
    """A checkpoint's data settings (plain data a user hands over) never choose where files go."""
    from attn_project.commands.evaluate import run_datamodule
    from attn_project.data.settings import DataSettings

    cfg = make_cfg()
    outside = tmp_path / "outside"
    settings = {**hydra.utils.instantiate(cfg.data).hparams, "root": str(outside / "corpus"),
                "cache_dir": str(outside / "cache"), "tokenizer_path": str(outside / "tok")}
    dm = run_datamodule("x.ckpt", DataSettings.checked(settings), cfg.data)
    dm.setup()
    assert str(dm.settings.root) == cfg.data.root and dm.settings.cache_dir == cfg.data.cache_dir
    assert dm.settings.tokenizer_path is None and not outside.exists()


@pytest.mark.parametrize("name", ALL_EXPERIMENTS)
def test_eval_composes_with_every_experiment(tmp_path, data_dir, name):
    from conftest import compose_cfg

    cfg = compose_cfg(tmp_path, data_dir, f"ckpt_path={tmp_path}/last.ckpt", *experiment_overrides(name),
                      config="eval")
    dm = hydra.utils.instantiate(cfg.data)
    assert dm.settings.corpus == ("ud" if name.startswith("ud_") else "default")
    assert cfg.model.num_heads == (4 if "multi" in name else 1)


def test_evaluating_last_ckpt_says_which_checkpoint_the_runs_own_test_used(tmp_path):
    from attn_project.commands.evaluate import last_checkpoint_note

    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    for name in ("last.ckpt", "epoch01-acc0.8000.ckpt", "epoch03-acc0.8600.ckpt"):
        (folder / name).write_bytes(b"")
    (tmp_path / "run" / "metrics.json").write_text(json.dumps({"test/acc": 0.863}))
    note = last_checkpoint_note(folder / "last.ckpt", {"test/acc": 0.859})
    assert "test/acc 0.8590" in note and "epoch03-acc0.8600.ckpt (test/acc 0.8630)" in note
    assert last_checkpoint_note(folder / "epoch03-acc0.8600.ckpt", {"test/acc": 0.863}) is None


def test_eval_writes_beside_the_run_it_evaluates(tmp_path, trained_ckpt):
    from attn_project.run.run_names import eval_folder

    run = trained_ckpt.parent.parent
    assert eval_folder(str(trained_ckpt), str(tmp_path / "logs")) == str(run / "eval")
    loose = tmp_path / "loose.ckpt"
    loose.write_bytes(b"x")
    assert eval_folder(str(loose), str(tmp_path / "logs")) == str(tmp_path / "eval")
    for elsewhere in ("http://host/x.ckpt", str(tmp_path / "absent.ckpt")):  # refused later, by eval
        assert eval_folder(elsewhere, str(tmp_path / "logs")) == str(tmp_path / "logs" / "eval")
