"""Every config composes: experiments (and the controls), trainers, launchers, the treebank recipe."""

import hydra
import numpy as np
import pytest
import torch
from conftest import ROOT
from helpers import ALL_EXPERIMENTS, LM_EXPERIMENTS, experiment_overrides
from omegaconf import OmegaConf

from attn_project.commands.train import build_module, build_trainer
from attn_project.model import MaskedTokenClassifier

CONTROLS = ("position", "uniform", "offset", "gold_head", "gold_neighbourhood", "pretrained")  # model.scores


@pytest.mark.parametrize("trainer, tasks", [("ddp", 4), ("gpu", 1)])
def test_slurm_launcher_asks_for_one_task_per_device(make_cfg, trainer, tasks):
    cfg = make_cfg(f"trainer={trainer}", "hydra/launcher=slurm")
    launcher = OmegaConf.to_container(cfg.hydra.launcher, resolve=True)
    assert launcher["tasks_per_node"] == launcher["gpus_per_node"] == cfg.trainer.devices == tasks


@pytest.mark.parametrize("name", ALL_EXPERIMENTS)
def test_experiment_composes_and_instantiates(make_cfg, name):
    cfg = make_cfg(*experiment_overrides(name))
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup()
    model = build_module(cfg, dm).model
    assert isinstance(model, MaskedTokenClassifier)
    assert model.num_heads == (4 if "multi" in name else 1)
    assert model.config.directional_values == ("directional" in name)
    control = next((c for c in CONTROLS if name.endswith(f"_{c}")), "content")
    assert model.config.scores == control  # a trained control's experiment fixes its attention
    assert (model.relative_bias is not None) == ((cfg.model.relative_bias and control == "content")
                                                 or control == "position")
    base = name.removesuffix(f"_{control}")
    assert cfg.model.relative_bias == ("relative" in name or base == "ud_single_head")  # the treebank default
    assert dm.settings.corpus == ("ud" if name.startswith("ud_") else "default")
    trainer = hydra.utils.instantiate(cfg.trainer)
    assert trainer.max_epochs == 2


@pytest.mark.parametrize("trainer, expected", [
    ("cpu", {"accelerator": "cpu", "devices": 1}),
    ("gpu", {"accelerator": "gpu", "devices": 1, "precision": "bf16-mixed"}),
    ("mps", {"accelerator": "mps", "devices": 1}),
    ("ddp", {"accelerator": "gpu", "devices": 4, "strategy": "ddp"}),
    ("ddp_cpu", {"accelerator": "cpu", "devices": 2, "strategy": "ddp_spawn"}),
    ("fsdp", {"accelerator": "gpu", "devices": 4, "strategy": "fsdp", "precision": "bf16-mixed"}),
])
def test_every_trainer_config_composes_with_its_settings(make_cfg, trainer, expected):
    cfg = make_cfg(f"trainer={trainer}")
    assert {k: cfg.trainer[k] for k in expected} == expected
    assert cfg.trainer._target_ == "lightning.Trainer" and cfg.trainer.use_distributed_sampler is False


@pytest.mark.parametrize("launcher, target", [
    ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher"),
    ("slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"),
])
def test_every_launcher_config_composes(make_cfg, launcher, target):
    assert make_cfg(f"hydra/launcher={launcher}").hydra.launcher._target_ == target


@pytest.mark.parametrize("name", [n for n in ALL_EXPERIMENTS if n.startswith("ud_")])
def test_every_ud_experiment_trains_on_the_treebank_recipe_and_its_schedule(make_cfg, name):
    cfg = make_cfg(*experiment_overrides(name))
    assert (cfg.data.batch_size, cfg.data.min_frequency, cfg.data.min_epoch_sentences) == (32, "auto", 4000)
    stopping = [c for c in build_trainer(cfg).callbacks if type(c).__name__ == "EarlyStopping"]
    assert len(stopping) == 1 and stopping[0].monitor == "val/balanced_acc" and stopping[0].mode == "max"
    assert cfg.callbacks.model_checkpoint.monitor == "val/balanced_acc"  # the tested epoch: class-balanced
    settings = OmegaConf.to_container(cfg.scheduler, resolve=True)
    settings.pop("interval")
    assert cfg.scheduler.interval == "step"  # the module gives OneCycleLR the Trainer's total steps
    schedule = hydra.utils.instantiate(settings, total_steps=100)(
        optimizer=torch.optim.SGD([torch.zeros(1)], lr=1.0))
    rates = [schedule.get_last_lr()[0]] + [schedule.step() or schedule.get_last_lr()[0] for _ in range(99)]
    assert max(rates) == pytest.approx(cfg.optimizer.lr) and rates[0] < cfg.optimizer.lr / 10  # warm-up
    assert rates[-1] < cfg.optimizer.lr / 100 and int(np.argmax(rates)) in range(15, 25)  # then down to ~0


def test_the_word_task_picks_its_epoch_by_top1_accuracy(make_cfg):
    """Balanced accuracy over ~1,000 words is mostly noise: task=word monitors val/acc, the others do not."""
    cfg = make_cfg("experiment=ud_multi_head_relative", "task=word")
    stopping = [c for c in build_trainer(cfg).callbacks if type(c).__name__ == "EarlyStopping"]
    assert stopping[0].monitor == "val/acc" and cfg.callbacks.model_checkpoint.monitor == "val/acc"
    assert make_cfg("experiment=ud_multi_head_relative", "task=deprel").callbacks.model_checkpoint.monitor \
        == "val/balanced_acc"


def test_recipe_none_turns_the_treebank_recipe_off(make_cfg):
    plain = make_cfg("experiment=ud_single_head", "recipe=none")
    assert "early_stopping" not in plain.callbacks and plain.data.min_epoch_sentences == 0
    assert not plain.scheduler
    assert "early_stopping" not in make_cfg().callbacks and not make_cfg().scheduler  # the default corpus


class PlantedSkewedValidation(__import__("lightning").LightningModule):
    """Logs planted validation scores of a skewed treebank: epoch 1 is near-majority (the best
    accuracy, balanced accuracy 0.51), epoch 2 the best class-balanced one."""

    ACC = [0.70, 0.76, 0.74, 0.73, 0.72, 0.71, 0.71, 0.70, 0.70, 0.70]
    BALANCED = [0.50, 0.51, 0.60, 0.58, 0.57, 0.56, 0.55, 0.55, 0.55, 0.55]

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def training_step(self, batch, batch_idx):
        return (self.weight * batch[0]).sum()

    def validation_step(self, batch, batch_idx):
        epoch = self.current_epoch
        self.log_dict({"val/acc": self.ACC[epoch], "val/balanced_acc": self.BALANCED[epoch],
                       "val/loss": 1.0 - self.ACC[epoch]})

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

    def train_dataloader(self):
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.ones(4, 1)), batch_size=2)

    val_dataloader = train_dataloader


def test_the_treebank_recipe_tests_the_class_balanced_epoch_not_a_near_majority_one(make_cfg, tmp_path):
    import lightning as L

    cfg = make_cfg("experiment=ud_single_head")
    checkpoint = hydra.utils.instantiate(cfg.callbacks.model_checkpoint, dirpath=str(tmp_path / "ckpt"),
                                         filename="epoch{epoch:02d}", auto_insert_metric_name=False)
    stopping = hydra.utils.instantiate(cfg.callbacks.early_stopping, verbose=False)
    trainer = L.Trainer(max_epochs=10, callbacks=[checkpoint, stopping], logger=False,
                        enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(PlantedSkewedValidation())
    assert checkpoint.best_model_path.endswith("epoch02.ckpt")  # not epoch 1, the best val/acc
    assert trainer.current_epoch < 10  # stopped: balanced accuracy fell for `patience` validations


@pytest.mark.parametrize("name", LM_EXPERIMENTS)
def test_language_model_experiments_compose_their_data_model_and_checkpoints(name):
    import hydra
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from attn_project.data.lm_datamodule import TextDataModule

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(ROOT / "conf"), version_base="1.3"):  # not the classifier's test sizes
        cfg = compose("train", overrides=[f"experiment={name}"])
    GlobalHydra.instance().clear()
    assert cfg.objective == name.removeprefix("lm_")
    dm = hydra.utils.instantiate(cfg.data)
    assert isinstance(dm, TextDataModule) and dm.objective == cfg.objective
    assert cfg.model.num_layers == 4 and cfg.model.d_model == 128  # lm_small, the default size
    assert set(cfg.callbacks) == {"log_spaced_checkpoints", "learning_rate", "progress_bar",
                                  "stop_on_non_finite_loss", "attention_heatmaps"}
    assert cfg.trainer.max_steps > 0 and cfg.trainer.enable_checkpointing is False
    assert cfg.trainer.reload_dataloaders_every_n_epochs == 1  # each epoch its own shuffle and masks
    assert LM_EXPERIMENTS == ["lm_causal", "lm_mlm"]
