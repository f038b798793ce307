"""Lightning callbacks: attention heat maps and metrics to TensorBoard, the before/after report,
a guard against non-finite losses, and a checkpoint when a run is interrupted."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only

from attn_project.analysis import plots
from attn_project.analysis.baselines import cached_task_baselines
from attn_project.analysis.metrics import AlignmentStats
from attn_project.analysis.probe import (
    add_batch,
    analyse_split,
    gold_syntax,
    mask_map,
    offset_baselines,
    probe_attention,
)
from attn_project.analysis.probe_figure import ProbeFigure
from attn_project.analysis.report import build_report, entropy_histogram, relation_bars, write_report
from attn_project.checkpoint import URL
from attn_project.data.labels import IGNORE
from attn_project.errors import NonFiniteLossError

log = logging.getLogger(__name__)


def tensorboard(trainer: L.Trainer):
    """The TensorBoard SummaryWriter of the run, or None when TensorBoard is not logging."""
    for logger in trainer.loggers:
        if isinstance(logger, TensorBoardLogger):
            return logger.experiment
    return None


def sentence_ids(datamodule, split: str, index: int):
    """The token ids [T] of one sentence of a split, without padding."""
    tensors = datamodule.tensors[split]
    return tensors.ids[index, : int(tensors.lengths[index])]


def probe_inputs(classifier, datamodule, index: int, split: str = "dev") -> dict:
    """Arrays and labels for one probe's figure: its mask map and the attention of the input
    masked at its middle target, per head."""
    ids = sentence_ids(datamodule, split, index)
    targets = (datamodule.tensors[split].labels[index, : len(ids)] != IGNORE).nonzero().flatten()
    position = int(targets[len(targets) // 2]) if len(targets) else 0
    mask_map, raw = probe_attention(classifier, ids, datamodule.mask_id, position)
    tokens = datamodule.tokens_of(split, index)
    return {"mask_map": mask_map.numpy(), "raw": raw.numpy(), "tokens": tokens,
            "masked_tokens": tokens[:position] + ["[MASK]"] + tokens[position + 1:],
            "masked_word": tokens[position]}


def png_summary(tag: str, png: bytes):
    """A TensorBoard image summary from PNG bytes (no decoding)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    image = Summary.Image(encoded_image_string=png, height=0, width=0, colorspace=4)
    return Summary(value=[Summary.Value(tag=tag, image=image)])


class AttentionHeatmaps(L.Callback):
    """Token-labelled heat maps of fixed probe sentences: at step 0, then every N epochs.

    Each probe's figure is laid out and drawn once per fit; later frames only repaint the
    heat maps (see ``analysis.probe_figure``): about 20 ms per probe and epoch.
    """

    def __init__(self, every_n_epochs: int = 1, num_probes: int | None = None):
        self.every_n_epochs, self.num_probes = every_n_epochs, num_probes
        self.figures: dict[int, ProbeFigure] = {}

    def figure(self, k: int, inputs: dict) -> ProbeFigure:
        if k not in self.figures:
            self.figures[k] = ProbeFigure(inputs["tokens"], inputs["masked_tokens"],
                                          inputs["masked_word"], num_heads=inputs["raw"].shape[0])
        return self.figures[k]

    @rank_zero_only
    def log_figures(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        writer = tensorboard(trainer)
        if writer is None:
            return
        dm, step = trainer.datamodule, trainer.global_step
        for k, index in enumerate(dm.probe_indices("dev", self.num_probes)):
            inputs = probe_inputs(pl_module.classifier, dm, index)
            title = f"probe {k}, step {step}" + (" (before training)" if step == 0 else "")
            png = self.figure(k, inputs).update(inputs["mask_map"], inputs["raw"], title)
            writer.file_writer.add_summary(png_summary(f"attention/probe{k}", png), step)

    def on_fit_start(self, trainer, pl_module):
        self.figures = {}  # a new fit may have another datamodule
        self.log_figures(trainer, pl_module)  # the untrained model: step 0

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        self.log_figures(trainer, pl_module)


class AttentionMetrics(L.Callback):
    """Per-epoch ``attention/entropy``, ``dep_alignment`` and ``dep_mass`` on a fixed dev subset
    (the first ``num_sentences`` sentences).

    With sentence batching the validation pass already computes every dev sentence's mask map;
    they are scored as they go by, at no extra forward pass. With example batching (no mask
    maps in validation) and before training, the subset gets a pass of its own.
    """

    def __init__(self, num_sentences: int = 500):
        self.num_sentences = num_sentences
        self.stats: AlignmentStats | None = None
        self.seen = 0  # subset sentences scored in this validation pass

    def own_pass(self, trainer, pl_module) -> dict:
        dm = trainer.datamodule
        indices = list(range(self.subset_size(trainer)))
        return analyse_split(pl_module.classifier, dm.tensors["dev"], dm.relations, indices,
                             per_relation=False).summary()

    def log_scalars(self, trainer, summary: dict) -> None:
        """Called on rank 0 only (the hooks below check), where the measuring happens too."""
        for logger in trainer.loggers:
            logger.log_metrics({"attention/entropy": summary["entropy"],
                                "attention/dep_alignment": summary["dep_alignment"],
                                "attention/dep_mass": summary["dep_mass"]}, step=trainer.global_step)

    def on_fit_start(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.log_scalars(trainer, self.own_pass(trainer, pl_module))

    def subset_size(self, trainer) -> int:
        return min(self.num_sentences, len(trainer.datamodule.tensors["dev"]))

    def on_validation_epoch_start(self, trainer, pl_module):
        # one process sees every dev batch only without DDP; with it, rank 0 makes its own pass
        reads_validation = not trainer.sanity_checking and trainer.world_size == 1
        self.stats = AlignmentStats(trainer.datamodule.relations, per_relation=False) \
            if reads_validation else None
        self.seen = 0

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx,
                                dataloader_idx=0):
        if self.stats is None or not isinstance(outputs, dict) or "mask_maps" not in outputs:
            return
        keep = batch["index"] < self.num_sentences  # [B]: rows of the fixed subset
        if not keep.any():
            return
        index = batch["index"][keep].cpu()
        self.seen += len(index)
        add_batch(self.stats, {
            "weights": outputs["mask_maps"][keep], "lengths": batch["lengths"][keep],
            "labels": batch["labels"][keep],
            **gold_syntax(trainer.datamodule.tensors["dev"], index, batch["ids"].size(1))})

    def on_validation_epoch_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        # the whole subset went by (not so with example batching or limit_val_batches < 1)
        complete = self.stats is not None and self.seen == self.subset_size(trainer)
        self.log_scalars(trainer, self.stats.summary() if complete else self.own_pass(trainer, pl_module))
        self.stats = None


class StopOnNonFiniteLoss(L.Callback):
    """Stop at the first NaN/inf training loss, naming the step and the likely cause."""

    def on_before_backward(self, trainer, pl_module, loss):
        """Checked before the backward pass, so the broken loss never updates the weights."""
        if not torch.isfinite(loss).all():
            raise NonFiniteLossError(
                f"training loss became {float(loss)} at step {trainer.global_step} (epoch "
                f"{trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}). Likely "
                f"cause: the learning rate (optimizer.lr={pl_module.hparams.optimizer.get('lr')}) "
                f"is too high, or exploding initial weights (model.init=normal, model.embedding_std) "
                f"saturate the softmax; lower them. Checkpoints written so far are kept unchanged.")


class InterruptCheckpoint(L.Callback):
    """Make sure an interrupted fit (SIGINT, SIGTERM, an error) leaves ``<dirpath>/last.ckpt``.

    LastCheckpoint writes last.ckpt after every epoch's validation; resuming from an epoch
    boundary repeats the uninterrupted run exactly, so that file is kept. Only when
    no epoch has finished yet is the mid-epoch state saved (resuming it restarts that epoch).
    Never after a non-finite loss: the weights are broken, the last good checkpoint stays.
    Unlike Lightning's OnExceptionCheckpoint it does not make ``fit(ckpt_path=None)`` resume.
    """

    def __init__(self, dirpath: str | Path, filename: str = "last.ckpt"):
        self.path = Path(dirpath) / filename

    def on_exception(self, trainer, pl_module, exception):
        # fitting, not training: a signal during fit's validation loop must save and say so too
        if isinstance(exception, NonFiniteLossError) or trainer.state.fn != TrainerFn.FITTING:
            return
        if not self.path.exists():
            save_atomically(trainer, self.path)
        log.warning("interrupted (%s). Resume with: python scripts/train.py <same overrides> "
                    "ckpt_path=%s", type(exception).__name__, self.path.resolve())


def save_atomically(trainer: L.Trainer, path: Path) -> None:
    """The full, resumable state to ``path`` through a temporary file in the same folder, flushed
    to disk and renamed: a kill during the write leaves the previous file whole (Lightning's own
    temporary file lives in $TMPDIR, from where a move to another filesystem is a copy)."""
    tmp = path.with_name(f".{path.name}.tmp")
    trainer.save_checkpoint(tmp, weights_only=False)  # full state (Lightning's flag): resumable
    if trainer.is_global_zero:  # the process that wrote it
        with tmp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)


class EpochSeed(L.Callback):
    """Reseeds torch, NumPy and Python before each epoch's first batch from (seed, epoch).

    Dropout then draws the same numbers in an epoch whether the run was resumed or not: the
    random state depends on where training is, not on what happened before in this process.
    """

    def __init__(self, seed: int):
        self.seed = seed

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        # not on_train_epoch_start: Lightning skips that hook in the first epoch after a resume
        if batch_idx == 0:
            L.seed_everything(self.seed * 10_007 + trainer.current_epoch, workers=True, verbose=False)


class LastCheckpoint(Checkpoint):
    """``<dirpath>/last.ckpt`` at the end of every training epoch (after its validation),
    written atomically (tmp file + rename).

    A ``Checkpoint`` subclass, so Lightning runs it after the other callbacks (and after
    BestCheckpoint, listed before it): the file holds their state for this epoch.

    Lightning's ModelCheckpoint(save_last=True) only refreshes last.ckpt when a top-k
    checkpoint is saved, i.e. when the monitored metric improved; a resume needs the latest.
    """

    def __init__(self, dirpath: str | Path):
        self.path = Path(dirpath) / "last.ckpt"

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.fast_dev_run:
            return
        save_atomically(trainer, self.path)


class BestCheckpoint(ModelCheckpoint):
    """ModelCheckpoint that keeps its best score across a resume into a new run folder, and
    takes from a checkpoint only paths it can trust.

    Lightning forgets the best score when the checkpoint folder changes; every run (a resumed
    one too) gets its own folder here, so a resumed run would otherwise test a worse epoch.
    Lightning also deletes the old best file when a better one comes, and tests on the best
    path: a restored path is kept only when it is a local ``.ckpt`` file in this run's checkpoint
    folder or in the folder of the checkpoint resumed from (resolved, so '..' and links cannot
    lead out); anything else is dropped with a warning. Files outside this run's folder are never
    deleted (Lightning removes only files inside its own folder).
    """

    def setup(self, trainer, pl_module, stage) -> None:
        super().setup(trainer, pl_module, stage)
        self.trainer = trainer  # load_state_dict needs the path being resumed from

    def trusted_folders(self) -> set[Path]:
        folders = {Path(self.dirpath).resolve()} if self.dirpath else set()
        resumed = getattr(getattr(self, "trainer", None), "ckpt_path", None)
        return folders | ({Path(resumed).resolve().parent} if resumed else set())

    def trusted_entry(self, path, score) -> tuple[str, torch.Tensor] | None:
        """(resolved path, score) when the path is a checkpoint file we may read and the score a
        finite number; else None."""
        if not isinstance(path, str) or URL.match(path) or "\0" in path:
            return None
        resolved = Path(path).resolve()
        in_run = resolved.parent in self.trusted_folders()
        if resolved.suffix != ".ckpt" or not resolved.is_file() or not in_run:
            return None
        if not (isinstance(score, float | int) or torch.is_tensor(score) and score.numel() == 1):
            return None
        score = torch.as_tensor(score, dtype=torch.float32).reshape(())
        return (str(resolved), score) if torch.isfinite(score) else None

    def load_state_dict(self, state_dict: dict) -> None:
        stored = state_dict.get("best_k_models")
        stored = stored if isinstance(stored, dict) else {}
        kept = dict(filter(None, (self.trusted_entry(p, s) for p, s in stored.items())))
        if len(kept) < len(stored):
            log.warning("checkpoint state: dropped %d best-model path(s) that are not checkpoint files "
                        "of this run or of the one resumed from: %s", len(stored) - len(kept),
                        [p for p in stored if str(Path(str(p)).resolve()) not in kept][:3])
        if not kept:
            return  # a fresh start: the next validation's checkpoint becomes the best
        best, worst = (max, min) if self.mode == "max" else (min, max)
        self.best_k_models = kept
        self.best_model_path = best(kept, key=kept.get)
        self.best_model_score = kept[self.best_model_path]
        self.kth_best_model_path = worst(kept, key=kept.get)
        self.kth_value = kept[self.kth_best_model_path]


SNAPSHOT_TYPES = {"summary": dict, "entropies": torch.Tensor, "probes": list, "baselines": dict,
                  "offsets": dict, "seconds": float}


def valid_snapshot(before) -> bool:
    """The shape AttentionReport stores: the keys and types of ``on_fit_start``'s snapshot."""
    return (isinstance(before, dict) and set(before) == set(SNAPSHOT_TYPES)
            and all(isinstance(before[k], t) for k, t in SNAPSHOT_TYPES.items())
            and all(isinstance(p, torch.Tensor) and p.dim() == 3 for p in before["probes"]))


class AttentionReport(L.Callback):
    """Before/after analysis of the whole test split: snapshot at fit start, report at test end."""

    def __init__(self, dirpath: str | Path, experiment: str = ""):
        self.dirpath, self.experiment = Path(dirpath), experiment
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
        if self.before is not None:  # restored from a checkpoint
            return
        start = time.perf_counter()
        dm = trainer.datamodule
        stats = analyse_split(pl_module.classifier, dm.tensors["test"], dm.relations)
        self.before = {
            "summary": stats.summary(),
            "entropies": stats.entropy_values(),
            "probes": [mask_map(pl_module.classifier, sentence_ids(dm, "test", i))
                       for i in dm.probe_indices("test")],
            "baselines": cached_task_baselines(dm.tensors["train"], dm.tensors["test"], dm.vocab_size,
                                               dm.cache_dir),
            "offsets": offset_baselines(dm.tensors["test"], dm.relations).summary(),
        }
        self.before["seconds"] = time.perf_counter() - start

    @rank_zero_only
    def on_test_end(self, trainer, pl_module):
        if self.before is None:  # test without fit (e.g. scripts/eval.py): nothing to compare
            return
        start = time.perf_counter()
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
        figures = {"entropy_histogram": entropy_histogram(self.before["entropies"].numpy(),
                                                          stats.entropy_values().numpy()),
                   "per_relation": relation_bars(report)}
        for k, index in enumerate(dm.probe_indices("test")):
            after = mask_map(pl_module.classifier, sentence_ids(dm, "test", index))
            tokens = dm.tokens_of("test", index)
            figures[f"before_after_probe{k}"] = plots.before_after_figure(
                self.before["probes"][k].mean(0), after.mean(0), tokens,
                f"Mask map of test probe {k}: row i = what the [MASK] at i attends to"
                + (" (mean of heads)" if after.size(0) > 1 else ""),
                before_title=f"before training (init={run['init']})")
        report["run"]["analysis_s"] = round(self.before.get("seconds", 0.0)
                                            + time.perf_counter() - start, 2)  # both ends, figures too
        paths = write_report(self.dirpath, report, figures)
        writer = tensorboard(trainer)
        if writer is not None:
            writer.add_text("report/attention_report", paths["md"].read_text(), trainer.global_step)
            for name, fig in figures.items():
                writer.add_figure(f"report/{name}", fig, trainer.global_step, close=True)
        print(f"attention report: {paths['md']}")
