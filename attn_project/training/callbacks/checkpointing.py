"""Run safety: checkpoints (last, best, on interrupt), the tokenizer inside them, epoch seeding,
and a stop at the first non-finite loss."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from lightning.pytorch.trainer.states import TrainerFn

from attn_project.errors import NonFiniteLossError
from attn_project.training.checkpoint import URL

log = logging.getLogger(__name__)


class StopOnNonFiniteLoss(L.Callback):
    """Stop at the first NaN/inf training loss, naming the step and the likely cause."""

    def on_before_backward(self, trainer, pl_module, loss):
        """Checked before the backward pass, so the broken loss never updates the weights."""
        if not torch.isfinite(loss).all():
            hparams = pl_module.hparams
            optimizer = getattr(hparams, "optimizer", None)
            if optimizer is not None:  # the classifier's optimizer group
                cause = (f"the learning rate (optimizer.lr={optimizer.get('lr')}) is too high, or "
                         f"exploding initial weights (model.init=normal, model.embedding_std) saturate the "
                         f"softmax; lower them")
            else:  # a language model's lm group
                lr = getattr(hparams, "lr", None)
                cause = f"the learning rate (lm.lr={lr}) is too high; lower it or lengthen lm.warmup_steps"
            raise NonFiniteLossError(
                f"training loss became {loss.item()} at step {trainer.global_step} (epoch "
                f"{trainer.current_epoch}, batch {trainer.fit_loop.epoch_loop.batch_idx}). Likely "
                f"cause: {cause}. Checkpoints written so far are kept unchanged.")


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
        self.best_model_path = best(kept, key=lambda path: kept[path])
        self.best_model_score = kept[self.best_model_path]
        self.kth_best_model_path = worst(kept, key=lambda path: kept[path])
        self.kth_value = kept[self.kth_best_model_path]


class TokenizerInCheckpoint(L.Callback):
    """Stores the tokenizer (JSON text) inside every checkpoint, so a checkpoint is self-contained;
    with ``data.tokenizer=pieces`` the piece vocabulary too (``pieces_json``)."""

    def __init__(self, tokenizer_json: str, pieces_json: str | None = None):
        self.tokenizer_json, self.pieces_json = tokenizer_json, pieces_json

    def on_save_checkpoint(self, trainer, pl_module, checkpoint):
        checkpoint["tokenizer_json"] = self.tokenizer_json
        if self.pieces_json is not None:
            checkpoint["pieces_json"] = self.pieces_json
