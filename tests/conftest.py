"""Shared fixtures: Hydra configs composed the way scripts/train.py composes them, kept small."""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import open_dict

from attn_project.commands.resolvers import register_resolvers

register_resolvers()  # as every command does before Hydra composes

ROOT = Path(__file__).resolve().parents[1]
MINI_UD = ROOT / "tests" / "fixtures" / "ud_mini"
SMALL = ["data.sizes={train:1500,dev:200,test:200}", "trainer.max_epochs=2"]


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory):
    """One data folder for the session: the small generated corpus is made once."""
    return tmp_path_factory.mktemp("data")


def compose_cfg(out_dir: Path, data_dir: Path, *overrides: str, config: str = "train"):
    """The composed config, with outputs under out_dir/run and data under data_dir."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config, overrides=[*SMALL, *overrides], return_hydra_config=True)
    with open_dict(cfg):
        cfg.paths.data_dir = str(data_dir)
        cfg.paths.log_dir = str(out_dir / "logs")
        cfg.paths.output_dir = str(out_dir / "run")
        cfg.hydra.runtime.output_dir = str(out_dir / "run")
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    return cfg


@pytest.fixture
def make_cfg(tmp_path, data_dir):
    """compose(overrides) → a config whose outputs go under tmp_path."""
    yield lambda *overrides: compose_cfg(tmp_path, data_dir, *overrides)
    GlobalHydra.instance().clear()


@pytest.fixture(scope="session")
def trained_ckpt(tmp_path_factory, data_dir):
    """last.ckpt of a tiny run (1 epoch, 3 batches), shared by the checkpoint tests."""
    from attn_project.commands.train import train

    out = tmp_path_factory.mktemp("ckpt")
    train(compose_cfg(out, data_dir, "trainer.max_epochs=1", "++trainer.limit_train_batches=3",
                      "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null",
                      "callbacks.attention_report=null", "data.max_len=20"))
    GlobalHydra.instance().clear()
    return out / "run" / "checkpoints" / "last.ckpt"


@pytest.fixture(autouse=True)
def png_figures_only():
    """viz.format is a process-wide setting (viz/plots.py): a test's in-process command that sets it
    must not leave vector files to a later test's figures."""
    yield
    from attn_project.viz import plots

    plots.set_figure_formats("png")
