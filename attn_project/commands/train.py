"""The Hydra task: instantiate → fit → test on the best checkpoint → return the optimised metric."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import cast

import hydra
import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ProgressBar
from lightning.pytorch.utilities import rank_zero_info
from omegaconf import DictConfig, OmegaConf, open_dict

from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.data.files import atomic_write_text
from attn_project.data.pieces import PIECES_FILE
from attn_project.data.tokenizer import tokenizer_to_json
from attn_project.errors import ConfigError, root_message
from attn_project.run.configs import plain
from attn_project.run.console import one_line_per_message, parameter_summary, quiet_console
from attn_project.run.hparams import RUN_METRICS, hparam_metrics, hparams_of, log_hparams
from attn_project.run.threads import parallel_jobs, set_threads
from attn_project.training.callbacks.checkpointing import TokenizerInCheckpoint
from attn_project.training.checkpoint import check_fits, read_checkpoint
from attn_project.training.model_settings import model_settings
from attn_project.training.module import MaskedTokenModule

log = logging.getLogger(__name__)


def run_dir(cfg: DictConfig) -> Path:
    """The Hydra job's output folder (or ``paths.output_dir`` outside Hydra)."""
    try:
        return Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return Path(cfg.paths.output_dir)


def in_sweep() -> bool:
    try:
        return HydraConfig.get().mode == RunMode.MULTIRUN
    except ValueError:
        return False


def job_description() -> str:
    """"#N with overrides [...]" for the current Hydra job (for sweep logs)."""
    try:
        hydra_cfg = HydraConfig.get()
        number = OmegaConf.select(cast(DictConfig, hydra_cfg), "job.num", default=0)  # 0 outside sweeps
        return f"#{number} with overrides {list(hydra_cfg.overrides.task)}"
    except ValueError:
        return ""


def build_module(cfg: DictConfig, dm: MaskedTokenDataModule) -> MaskedTokenModule:
    """The LightningModule of the run's settings, completed from its data (``model_settings``)."""
    model = plain(cfg.model)
    compile_model = bool(model.pop("compile", False))
    return MaskedTokenModule(model=model_settings(model, dm, str(cfg.data.batching),
                                                  bool(cfg.analysis.punct_edges)),
                             optimizer=plain(cfg.optimizer),
                             scheduler=plain(cfg.scheduler) if cfg.get("scheduler") else None,
                             compile=compile_model)


def check_accelerator(accelerator: object) -> None:
    """``trainer=gpu`` (or mps) on a machine without one: one line that says so and what to run."""
    if accelerator in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ConfigError(f"trainer.accelerator={accelerator}: no CUDA GPU found (torch "
                          f"{torch.__version__}, torch.cuda.is_available() is False); run on the CPU "
                          f"with trainer=cpu (the default), or install a CUDA build of torch")
    if accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.accelerator=mps: no Apple GPU found; run on the CPU with trainer=cpu")


def build_trainer(cfg: DictConfig) -> L.Trainer:
    check_accelerator(cfg.trainer.get("accelerator"))
    callbacks = [hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c]
    loggers = [hydra.utils.instantiate(c) for c in (cfg.get("logger") or {}).values() if c]
    if cfg.get("scheduler"):  # the learning rate, epoch by epoch, to every logger
        callbacks.append(LearningRateMonitor(logging_interval="epoch"))
    overrides = {"enable_model_summary": False}  # train.py prints its own (console.parameter_summary)
    if in_sweep():  # no progress bars or summary tables in sweeps: their output interleaves
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
        overrides["enable_progress_bar"] = False
    return hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                   **overrides)


def resume_checkpoint(ckpt_path: str | None, module: MaskedTokenModule) -> str | None:
    """The checkpoint to resume from, checked first by the project's safe loader: a local file
    (no URL), plain data and tensors only, weights that fit this run's model."""
    if not ckpt_path:
        return None
    checkpoint = read_checkpoint(ckpt_path)
    check_fits(ckpt_path, module, checkpoint.get("state_dict") or {})
    return str(ckpt_path)


def compose_config(*overrides: str, output_dir: str | Path | None = None) -> DictConfig:
    """The train config as ``attn-train OVERRIDES`` composes it, for use outside a Hydra app (a
    notebook): the run's files go to ``output_dir`` (default: logs/notebook/<date_time>)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from attn_project.commands.resolvers import register_resolvers
    from attn_project.run.configs import CONFIGS

    register_resolvers()
    GlobalHydra.instance().clear()
    with initialize_config_dir(CONFIGS, version_base="1.3"):
        cfg = compose("train", overrides=list(overrides))
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir or Path(cfg.paths.log_dir) / "notebook"
                                   / time.strftime("%Y-%m-%d_%H-%M-%S"))
    return cfg


FAILED = "failed.txt"  # in a run folder: the run stopped before it finished, and why


def train(cfg: DictConfig) -> tuple[float | None, dict]:
    """Train and test one configuration; returns (optimised metric, all metrics). A run that
    stops with an error leaves ``failed.txt`` (the reason) in its folder beside train.log."""
    quiet_console()
    try:
        return fit_and_test(cfg)
    except BaseException as err:
        message = f"{type(err).__name__}: {root_message(err)}\n" if str(err) else f"{type(err).__name__}\n"
        with contextlib.suppress(OSError):  # a folder that cannot take it must not hide the error
            atomic_write_text(run_dir(cfg) / FAILED, message)
        raise


def fit_and_test(cfg: DictConfig) -> tuple[float | None, dict]:
    if cfg.get("objective"):  # experiment=lm_mlm / lm_causal: a language model on running text
        from attn_project.commands.train_lm import fit_language_model

        return fit_language_model(cfg, run_dir(cfg), build_trainer)
    check_optimized_metric(cfg.get("optimized_metric"))
    one_line_per_message(parallel_sweep=in_sweep() and parallel_jobs() > 1)
    set_threads(cfg.get("threads", "auto"))
    started = time.perf_counter()
    L.seed_everything(cfg.seed, workers=True)
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    out = run_dir(cfg)
    dm: MaskedTokenDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    dm.tokenizer.save_pretrained(str(out / "tokenizer"))
    if dm.pieces is not None:
        dm.pieces.save(str(out / "tokenizer" / PIECES_FILE))
    module = build_module(cfg, dm)
    trainer = build_trainer(cfg)
    trainer.callbacks.append(TokenizerInCheckpoint(tokenizer_to_json(dm.tokenizer),
                                                   None if dm.pieces is None else dm.pieces.to_str()))
    log_hparams(trainer.loggers, hparams_of(cfg), hparam_metrics(dm.num_classes))
    if cfg.get("train", True) and cfg.trainer.get("enable_model_summary", True) and not in_sweep():
        rank_zero_info(f"model:\n{parameter_summary(module)}")
    if cfg.get("train", True):
        ckpt_path = resume_checkpoint(cfg.get("ckpt_path"), module)
        trainer.fit(module, datamodule=dm, ckpt_path=ckpt_path, weights_only=True)
        log_early_stop(trainer)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    if cfg.get("test", True):
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        trainer.test(module, datamodule=dm, ckpt_path=best or None, weights_only=True, verbose=not in_sweep())
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
    for logger in trainer.loggers:
        logger.finalize("success")
        if callable(getattr(logger.experiment, "finish", None)):  # W&B: flush and close the run
            logger.experiment.finish()
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True))  # the run ended
    if in_sweep():  # one line per finished job: parallel jobs' progress stays readable
        print(f"job {job_description()} finished in {time.perf_counter() - started:.0f} s: "
              f"test/acc={metrics.get('test/acc', float('nan')):.4f}, folder {out}", flush=True)
    else:
        print(f"run folder: {out}")
    return optimized_value(cfg.get("optimized_metric"), metrics), metrics


def log_early_stop(trainer: L.Trainer) -> None:
    """Into the run's log (train.log), not only the console: whether and why training stopped early."""
    for callback in trainer.callbacks:
        if isinstance(callback, EarlyStopping) and callback.stopped_epoch:
            log.info("stopped early after %d of at most %d epochs: %s did not improve for %d validations "
                     "(best %.4f); testing the best checkpoint", callback.stopped_epoch + 1,
                     trainer.max_epochs, callback.monitor, callback.patience, float(callback.best_score))


def check_optimized_metric(name: str | None) -> None:
    """A misspelt ``optimized_metric`` stops the run before it trains."""
    if name and name not in RUN_METRICS:
        raise ConfigError(f"optimized_metric='{name}': not a metric this project logs; choose one of "
                          f"{', '.join(RUN_METRICS)}")


def optimized_value(name: str | None, metrics: dict) -> float | None:
    """The value handed to the sweeper (Optuna maximises or minimises it); a sweep whose runs
    lack it stops with the metrics they have (a single run only warns: fast_dev_run, DDP spawn)."""
    if not name or name in metrics:
        return metrics.get(name) if name else None
    message = (f"optimized_metric='{name}': this run logged no such metric (were its callbacks "
               f"turned off?); it logged {', '.join(sorted(metrics))}")
    if in_sweep():
        raise ConfigError(message)
    log.warning(message)
    return None
