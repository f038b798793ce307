"""Attention logging: heat maps and metrics to TensorBoard every epoch, the before/after report."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import lightning as L
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import RunningStage
from lightning.pytorch.utilities import rank_zero_only
from PIL import Image

from attn_project.analysis.mask_maps import (
    analyse_split,
    rule_inputs,
    sample_attention,
    scoring_batch,
    sentence_ids,
)
from attn_project.analysis.position import offset_alignment
from attn_project.analysis.report import assemble_report, untrained_snapshot, valid_snapshot, write_report
from attn_project.analysis.report_text import near_majority_warning
from attn_project.analysis.rows import RowScores, collect, head_names, summary
from attn_project.data.labels import IGNORE
from attn_project.viz.sample_figure import SampleFigure

log = logging.getLogger(__name__)


def tensorboard(trainer: L.Trainer):
    """The TensorBoard SummaryWriter of the run, or None when TensorBoard is not logging."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def sample_inputs(classifier, datamodule, index: int, split: str = "dev") -> dict:
    """Arrays and labels for one sample's figure: its mask map and the attention of the input
    masked at its middle target, per head."""
    ids = sentence_ids(datamodule.tensors[split], index)
    targets = (datamodule.tensors[split].labels[index, : len(ids)] != IGNORE).nonzero().flatten()
    position = int(targets[len(targets) // 2]) if len(targets) else 0
    mask_map, raw = sample_attention(classifier, ids, datamodule.mask_id, position,
                                     rule_inputs(datamodule.tensors[split], index))
    config = classifier.config  # heads named L<l>H<h>, layer-major, as every report names them
    return {"mask_map": mask_map.numpy(), "raw": raw.numpy(), "tokens": datamodule.tokens_of(split, index),
            "masked": position, "head_names": head_names(config.num_layers, config.num_heads)}


def png_summary(tag: str, png: bytes):
    """A TensorBoard image summary from PNG bytes (no decoding)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(encoded_image_string=png, height=0, width=0, colorspace=4)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class AttentionHeatmaps(L.Callback):
    """Token-labelled heat maps of fixed sample sentences: at step 0, then every N epochs.

    Per sample, images sized for TensorBoard's cards: ``attention/sample{k}`` (the mask map: row i
    = the [MASK] at i; the mean of the heads) and ``attention/sample{k}/L{l}H{h}`` (each head's
    attention with the middle target masked). Each sample's figure is laid out and drawn once per
    fit, for all its panels; later frames only repaint the heat map (see ``viz.sample_figure``).
    """

    def __init__(self, every_n_epochs: int = 1, num_samples: int | None = None):
        self.every_n_epochs, self.num_samples = every_n_epochs, num_samples
        self.figures: dict[int, SampleFigure] = {}  # sample k → its figure, drawn once per fit

    def frames(self, k: int, inputs: dict, step: int) -> dict[str, bytes]:
        """Tag → PNG of sample ``k``'s mask map and of each head's attention to its masked input."""
        if k not in self.figures:
            self.figures[k] = SampleFigure(inputs["tokens"], masked=inputs["masked"])
        figure = self.figures[k]
        title = f"sample {k} · step {step}" + (" (untrained)" if step == 0 else "")
        frames = {f"attention/sample{k}": figure.update(inputs["mask_map"].mean(0), title,
                                                        "mask map: row i = [MASK] at i")}
        for name, matrix in zip(inputs["head_names"], inputs["raw"], strict=True):  # each head, masked input
            what = f"{name}, '{figure.word}' masked"
            frames[f"attention/sample{k}/{name}"] = figure.update(matrix, title, what, show_mask=True)
        return frames

    @rank_zero_only
    def log_figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """To every logger that takes images: TensorBoard (PNG bytes as they are) and W&B."""
        writer = tensorboard(trainer)
        image_loggers = [logger for logger in trainer.loggers if hasattr(logger, "log_image")]
        if writer is None and not image_loggers:
            return
        dm, step = trainer.datamodule, trainer.global_step
        for k, index in enumerate(dm.sample_indices("dev", self.num_samples)):
            for tag, png in self.frames(k, sample_inputs(pl_module.model, dm, index), step).items():
                if writer is not None:
                    writer.file_writer.add_summary(png_summary(tag, png), step)
                for logger in image_loggers:  # e.g. WandbLogger
                    logger.log_image(key=tag, images=[Image.open(io.BytesIO(png))], step=step)

    def on_fit_start(self, trainer, pl_module):
        self.figures = {}  # a new fit may have another datamodule
        self.log_figures(trainer, pl_module)  # the untrained model: step 0

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.log_figures(trainer, pl_module)


class AttentionMetrics(L.Callback):
    """Per-epoch ``attention/entropy``, ``dep_alignment``, ``dep_mass`` and ``alignment_margin``
    (alignment minus that of the best fixed offset, searched over every offset) on a fixed dev
    subset (the first ``num_sentences`` sentences), scored as the report scores the test split.

    With sentence batching the validation pass already computes every dev sentence's mask map;
    they are scored as they go by, at no extra forward pass. With example batching (no mask
    maps in validation) and before training, the subset gets a pass of its own.
    """

    def __init__(self, num_sentences: int = 500, punct_edges: bool = False):
        self.num_sentences, self.punct_edges = num_sentences, punct_edges
        self.parts: list[dict] | None = None  # row scores of this validation pass, batch by batch
        self.seen = 0  # subset sentences scored in this validation pass
        self.best_offset = 0.0  # alignment of the best fixed offset on the subset (for the margin)

    def own_pass(self, trainer, pl_module) -> RowScores:
        indices = list(range(self.subset_size(trainer)))
        return analyse_split(pl_module.model, trainer.datamodule.tensors["dev"], indices, self.punct_edges)

    def log_scalars(self, trainer, summary: dict) -> None:
        """Called on rank 0 only (the hooks below check), where the measuring happens too.

        To the loggers at the step of the heat maps (0 before training, then each epoch's last);
        after a validation epoch also into ``trainer.callback_metrics`` (``LightningModule.log``
        without its logger), where ``optimized_metric``, early stopping and checkpoints find them.
        """
        values = {"attention/entropy": summary["entropy"],
                  "attention/dep_alignment": summary["dep_alignment"],
                  "attention/dep_mass": summary["dep_mass"],
                  "attention/alignment_margin": summary["dep_alignment"] - self.best_offset}
        for logger in trainer.loggers:
            logger.log_metrics(values, step=trainer.global_step)
        if trainer.state.stage == RunningStage.VALIDATING:
            trainer.lightning_module.log_dict(values, logger=False, rank_zero_only=True)

    def on_fit_start(self, trainer, pl_module):
        if not trainer.is_global_zero:
            return
        rows = self.own_pass(trainer, pl_module)
        self.best_offset = max(offset_alignment(rows).values())  # gold syntax only: any model will do
        self.log_scalars(trainer, summary(rows))

    def subset_size(self, trainer) -> int:
        return min(self.num_sentences, len(trainer.datamodule.tensors["dev"]))

    def on_validation_epoch_start(self, trainer, pl_module):
        # one process sees every dev batch only without DDP; with it, rank 0 makes its own pass
        reads_validation = not trainer.sanity_checking and trainer.world_size == 1
        self.parts = [] if reads_validation else None
        self.seen = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx=0):
        if self.parts is None or not isinstance(outputs, dict) or "mask_maps" not in outputs:
            return
        keep = batch["index"] < self.num_sentences  # [B]: rows of the fixed subset
        if not keep.any():
            return
        self.seen += int(keep.sum())
        kept = {key: batch[key][keep] for key in ("index", "lengths", "labels")}
        self.parts.append(scoring_batch(outputs["mask_maps"][keep], kept, trainer.datamodule.tensors["dev"]))

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        # the whole subset went by (not so with example batching or limit_val_batches < 1)
        complete = self.parts is not None and self.seen == self.subset_size(trainer)
        rows = collect(self.parts, self.punct_edges) if complete else self.own_pass(trainer, pl_module)
        self.log_scalars(trainer, summary(rows))
        self.parts = None


class AttentionReport(L.Callback):
    """Before/after analysis of the whole test split: snapshot at fit start, report at test end."""

    def __init__(self, dirpath: str | Path, experiment: str = "", punct_edges: bool = False,
                 bootstrap_resamples: int = 1000, bootstrap_seed: int = 0):
        self.dirpath, self.experiment = Path(dirpath), experiment
        self.punct_edges, self.resamples = punct_edges, bootstrap_resamples
        self.bootstrap_seed = bootstrap_seed
        self.before = None

    def state_dict(self) -> dict:
        """The "before" snapshot travels in checkpoints: a resumed run still compares with the
        untrained model, not with the state it resumed from."""
        return {"before": self.before} if self.before is not None else {}

    def load_state_dict(self, state_dict: dict) -> None:
        before = state_dict.get("before")
        if before is not None and not valid_snapshot(before):
            log.warning("checkpoint state: the report's untrained snapshot is malformed; ignored, "
                        "so the report compares with the model as resumed")
            before = None
        self.before = before

    @rank_zero_only
    def on_fit_start(self, trainer, pl_module):
        if self.before is None:  # not restored from a checkpoint
            self.before = untrained_snapshot(pl_module.model, trainer.datamodule, self.punct_edges)

    @rank_zero_only
    def on_test_end(self, trainer, pl_module):
        if self.before is None:  # test without fit (e.g. scripts/eval.py): nothing to compare
            return
        metrics = trainer.callback_metrics
        run = {"experiment": self.experiment, "epochs": trainer.current_epoch,
               "global_step": trainer.global_step,
               "test_loop": {k: float(v) for k, v in metrics.items() if k.startswith("test/")}}
        report, figures = assemble_report(pl_module.model, trainer.datamodule, self.before, run,
                                          self.punct_edges, self.resamples, self.bootstrap_seed)
        paths = write_report(self.dirpath, report, figures)
        warning = near_majority_warning(report)
        if warning:
            log.warning("%s (%s)", warning, paths["md"])
        writer = tensorboard(trainer)
        if writer is not None:
            writer.add_text("report/attention_report", paths["md"].read_text(), trainer.global_step)
            for name, fig in figures.items():
                writer.add_figure(f"report/{name}", fig, trainer.global_step, close=True)
        print(f"attention report: {paths['md']}")
