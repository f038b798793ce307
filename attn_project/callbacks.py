"""Lightning callbacks: attention heat maps and metrics to TensorBoard, the before/after report,
a guard against non-finite losses, and a checkpoint when a run is interrupted."""

from __future__ import annotations

import logging
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from attn_project.analysis import plots
from attn_project.analysis.baselines import task_baselines
from attn_project.analysis.probe import analyse_split, offset_baselines, probe_attention
from attn_project.analysis.report import build_report, entropy_histogram, relation_bars, write_report
from attn_project.data.labels import IGNORE

log = logging.getLogger(__name__)


def tensorboard(trainer: L.Trainer):
    """The TensorBoard SummaryWriter of the run, or None when TensorBoard is not logging."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def probe_figure(classifier, datamodule, index: int, split: str = "dev"):
    """Mask map beside every head's attention for the probe masked at its first target."""
    tensors = datamodule.tensors[split]
    length = int(tensors.lengths[index])
    ids = tensors.ids[index, :length]
    targets = (tensors.labels[index, :length] != IGNORE).nonzero().flatten()
    position = int(targets[len(targets) // 2]) if len(targets) else 0
    mask_map, raw = probe_attention(classifier, ids, datamodule.mask_id, position)
    tokens = datamodule.tokens_of(split, index)
    masked_tokens = tokens[:position] + ["[MASK]"] + tokens[position + 1:]
    heads = mask_map.size(0)
    fig, axes = plots.new_figure(ncols=min(heads + 1, 3), nrows=-(-(heads + 1) // 3))
    plots.heatmap(axes[0], mask_map.mean(0), tokens, tokens,
                  "mask map (row i: [MASK] at i)" + (" — mean of heads" if heads > 1 else ""))
    for h in range(heads):
        plots.heatmap(axes[h + 1], raw[h], masked_tokens, masked_tokens,
                      f"head {h}: '{tokens[position]}' masked")
    for ax in axes[heads + 1:]:
        ax.set_visible(False)
    return fig


class AttentionHeatmaps(L.Callback):
    """Token-labelled heat maps of fixed probe sentences: at step 0, then every N epochs."""

    def __init__(self, every_n_epochs: int = 1, num_probes: int | None = None):
        self.every_n_epochs, self.num_probes = every_n_epochs, num_probes

    @rank_zero_only
    def log_figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard(trainer)
        if writer is None:
            return
        dm = trainer.datamodule
        for k, index in enumerate(dm.probe_indices("dev", self.num_probes)):
            fig = probe_figure(pl_module.classifier, dm, index)
            fig.suptitle(f"probe {k}, step {trainer.global_step}"
                         + (" (before training)" if trainer.global_step == 0 else ""))
            writer.add_figure(f"attention/probe{k}", fig, global_step=trainer.global_step, close=True)

    def on_fit_start(self, trainer, pl_module):
        self.log_figures(trainer, pl_module)  # the untrained model: step 0

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.log_figures(trainer, pl_module)


class AttentionMetrics(L.Callback):
    """Per-epoch ``attention/entropy`` and ``attention/dep_alignment`` on a fixed dev subset."""

    def __init__(self, num_sentences: int = 500):
        self.num_sentences = num_sentences

    def measure(self, trainer, pl_module) -> dict:
        dm = trainer.datamodule
        indices = list(range(min(self.num_sentences, len(dm.tensors["dev"]))))
        return analyse_split(pl_module.classifier, dm.tensors["dev"], dm.relations, indices).summary()

    @rank_zero_only
    def log_scalars(self, trainer, pl_module) -> None:
        summary = self.measure(trainer, pl_module)
        for logger in trainer.loggers:
            logger.log_metrics({"attention/entropy": summary["entropy"],
                                "attention/dep_alignment": summary["dep_alignment"],
                                "attention/dep_mass": summary["dep_mass"]}, step=trainer.global_step)

    def on_fit_start(self, trainer, pl_module):
        self.log_scalars(trainer, pl_module)

    def on_validation_epoch_end(self, trainer, pl_module):
        if not trainer.sanity_checking:
            self.log_scalars(trainer, pl_module)


class NonFiniteLossError(RuntimeError):
    """Training produced a NaN or infinite loss."""


class StopOnNonFiniteLoss(L.Callback):
    """Stop at the first NaN/inf training loss, naming the step and the likely cause."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"training loss became {float(loss)} at step {trainer.global_step} (epoch "
                f"{trainer.current_epoch}, batch {batch_idx}). Likely cause: the learning rate "
                f"(optimizer.lr={pl_module.hparams.optimizer.get('lr')}) is too high, or the "
                f"unscaled model.init=normal saturates the softmax; lower optimizer.lr. "
                f"Checkpoints written so far are kept unchanged.")


class InterruptCheckpoint(L.Callback):
    """Save ``<dirpath>/last.ckpt`` when fitting is interrupted (SIGINT, SIGTERM, an error).

    Never after a non-finite loss (the weights are broken: the last good checkpoint stays).
    Unlike Lightning's OnExceptionCheckpoint it does not make ``fit(ckpt_path=None)`` resume.
    """

    def __init__(self, dirpath: str | Path, filename: str = "last.ckpt"):
        self.path = Path(dirpath) / filename

    def on_exception(self, trainer, pl_module, exception):
        if isinstance(exception, NonFiniteLossError) or not trainer.training:
            return
        log.warning("interrupted (%s): saving %s", type(exception).__name__, self.path)
        trainer.save_checkpoint(self.path)


class AttentionReport(L.Callback):
    """Before/after analysis of the whole test split: snapshot at fit start, report at test end."""

    def __init__(self, dirpath: str | Path, experiment: str = ""):
        self.dirpath, self.experiment = Path(dirpath), experiment
        self.before = None

    @rank_zero_only
    def on_fit_start(self, trainer, pl_module):
        dm = trainer.datamodule
        stats = analyse_split(pl_module.classifier, dm.tensors["test"], dm.relations)
        self.before = {
            "summary": stats.summary(),
            "entropies": stats.entropy_values().numpy(),
            "probes": [probe_attention(pl_module.classifier, *self.probe(dm, i), dm.mask_id)[0]
                       for i in dm.probe_indices("test")],
            "baselines": task_baselines(dm.tensors["train"], dm.tensors["test"], dm.vocab_size),
            "offsets": offset_baselines(dm.tensors["test"], dm.relations).summary(),
        }

    @staticmethod
    def probe(dm, index: int, split: str = "test"):
        tensors = dm.tensors[split]
        return tensors.ids[index, : int(tensors.lengths[index])], 0

    @rank_zero_only
    def on_test_end(self, trainer, pl_module):
        if self.before is None:  # test without fit (e.g. scripts/eval.py): nothing to compare
            return
        dm = trainer.datamodule
        stats = analyse_split(pl_module.classifier, dm.tensors["test"], dm.relations)
        hp = pl_module.hparams.model
        run = {"experiment": self.experiment, "corpus": dm.corpus, "num_heads": hp["num_heads"],
               "d_model": hp["d_model"], "init": hp.get("init", "default"),
               "epochs": trainer.current_epoch, "global_step": trainer.global_step}
        metrics = trainer.callback_metrics
        test = {k: float(metrics[f"test/{k}"]) for k in ("acc", "f1") if f"test/{k}" in metrics}
        report = build_report(test, self.before["baselines"], self.before["summary"],
                              stats.summary(), self.before["offsets"], run)
        figures = {"entropy_histogram": entropy_histogram(self.before["entropies"],
                                                          stats.entropy_values().numpy()),
                   "per_relation": relation_bars(report)}
        for k, index in enumerate(dm.probe_indices("test")):
            after = probe_attention(pl_module.classifier, *self.probe(dm, index), dm.mask_id)[0]
            tokens = dm.tokens_of("test", index)
            figures[f"before_after_probe{k}"] = plots.before_after_figure(
                self.before["probes"][k].mean(0), after.mean(0), tokens,
                f"Mask map of test probe {k}: row i = what the [MASK] at i attends to"
                + (" (mean of heads)" if after.size(0) > 1 else ""),
                before_title=f"before training (init={run['init']})")
        paths = write_report(self.dirpath, report, figures)
        writer = tensorboard(trainer)
        if writer is not None:
            writer.add_text("report/attention_report", paths["md"].read_text(), trainer.global_step)
            for name, fig in figures.items():
                writer.add_figure(f"report/{name}", fig, trainer.global_step, close=True)
        print(f"attention report: {paths['md']}")
