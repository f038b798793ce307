"""A run's hyperparameters as TensorBoard's HPARAMS tab shows them: dotted names, the swept
values, and the metrics a sweep is compared on — so the runs of a sweep line up in one table."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig

from attn_project.run.configs import plain
from attn_project.run.run_names import SWEPT, experiment_name

# the HPARAMS columns of metrics: each is a scalar the run logs itself (its last value is shown)
HPARAM_METRICS = ("val/acc_best", "test/acc", "test/f1", "attention/entropy", "attention/dep_alignment",
                  "attention/alignment_margin")
MULTICLASS_TEST = ("test/balanced_acc", "test/macro_f1")  # what a task of more than two classes logs


def hparam_metrics(num_classes: int) -> tuple[str, ...]:
    """The HPARAMS metric columns: the binary F1 for two classes, balanced accuracy and macro-F1 else."""
    if num_classes == 2:
        return HPARAM_METRICS
    return tuple(m for m in HPARAM_METRICS if m != "test/f1") + MULTICLASS_TEST
# every scalar a run logs, for optimized_metric and monitors
RUN_METRICS = ("train/loss", "val/loss", "val/acc", "val/f1", "val/balanced_acc", "val/macro_f1",
               "val/acc_best", "test/acc", "test/f1", "test/balanced_acc", "test/macro_f1",
               "val/top5_acc", "test/top5_acc", "val/perplexity", "test/perplexity",
               "attention/entropy", "attention/dep_alignment", "attention/dep_mass",
               "attention/alignment_margin")


def scalar(value):
    """What an HPARAMS cell holds: bool, int, float or text."""
    return value if isinstance(value, bool | int | float | str) else str(value)


def hparams_of(cfg: DictConfig) -> dict:
    """The run's settings with dotted names: every model and optimizer setting, the scheduler,
    the data's name and batching, seed, experiment, epochs and precision."""
    c = plain(cfg)
    data = c["data"]
    params = {f"model.{k}": v for k, v in c["model"].items()}
    params |= {f"optimizer.{k}": v for k, v in c["optimizer"].items() if not k.startswith("_")}
    params |= {"optimizer.name": c["optimizer"].get("_target_", "").rsplit(".", 1)[-1],
               "scheduler.name": (c.get("scheduler") or {}).get("_target_", "none").rsplit(".", 1)[-1],
               "data.name": Path(data["root"]).name if data["corpus"] == "ud" else "default",
               "data.batching": data["batching"], "data.batch_size": data["batch_size"],
               "data.max_len": data["max_len"], "data.min_frequency": data["min_frequency"],
               "data.tokenizer": data.get("tokenizer", "word"),
               "data.train_limit": data.get("train_limit") or "all",
               "seed": c["seed"], "experiment": experiment_name(),
               "task": (data.get("task") or {}).get("name", "content_function"),
               "trainer.max_epochs": c["trainer"]["max_epochs"],
               "trainer.precision": c["trainer"].get("precision", "32-true")}
    return {k: scalar(v) for k, v in sorted(params.items())}


# shown first in HPARAMS whatever a sweep varies: which experiment, which seed
ALWAYS_SHOWN = ("experiment", "seed")
# sweep keys that are Hydra config groups, by the HPARAMS column that names their choice
GROUP_COLUMNS = {"optimizer": "optimizer.name", "scheduler": "scheduler.name", "data": "data.name",
                 "data.root": "data.name", "data.train_limit": "data.train_limit"}


def swept_columns() -> set[str]:
    """The HPARAMS columns a sweep varies: its command-line sweep keys and Optuna's parameters."""
    keys = set(json.loads(os.environ.get(SWEPT) or "{}"))
    with contextlib.suppress(ValueError):  # composed outside a Hydra app: no sweeper
        keys |= set(HydraConfig.get().sweeper.get("params") or {})
    return {GROUP_COLUMNS.get(key, key) for key in keys}


def shown_first(experiment_summary, columns: set[str]):
    """The experiment summary with ``columns`` marked as differing: TensorBoard's HPARAMS tab sorts
    those first and ticks its first columns, so a sweep's varied keys are what a user sees."""
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    value = experiment_summary.value[0]
    data = HParamsPluginData.FromString(value.metadata.plugin_data.content)
    for info in data.experiment.hparam_infos:
        info.differs = info.name in columns
    value.metadata.plugin_data.content = data.SerializeToString()
    return experiment_summary


def log_hparams(loggers, params: dict, metrics: tuple[str, ...] = HPARAM_METRICS) -> None:
    """HPARAMS for TensorBoard (metric columns by name: their values are the run's own scalars,
    nothing is logged at step 0 for them; the swept keys, experiment and seed first); plain
    hyperparameters for any other logger."""
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            from torch.utils.tensorboard.summary import hparams

            experiment, session_start, session_end = hparams(params, dict.fromkeys(metrics, 0.0))
            for summary in (shown_first(experiment, swept_columns() | set(ALWAYS_SHOWN)),
                            session_start, session_end):
                logger.experiment.file_writer.add_summary(summary)
            logger.experiment.flush()
        else:
            logger.log_hyperparams(params)
