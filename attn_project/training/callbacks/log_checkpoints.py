"""Checkpoints at log-spaced training steps — 0 (before training), 10, 20, 50, 100, 200, 500, 1 k,
… and the last — each named by its step (``step_0000500.ckpt``: no "=", which a Hydra override
would misread), kept for the lens over training."""

from __future__ import annotations

from pathlib import Path

import lightning as L


def log_spaced(up_to: int) -> list[int]:
    """0, 10, 20, 50, 100, 200, 500, … ≤ ``up_to``."""
    steps, scale = [0], 10
    while scale <= up_to:
        steps += [m * scale for m in (1, 2, 5) if m * scale <= up_to]
        scale *= 10
    return steps


class LogSpacedCheckpoints(L.Callback):
    def __init__(self, dirpath: str, last: bool = True):
        self.dirpath, self.last = Path(dirpath), last
        self.saved: set[int] = set()

    def path(self, step: int) -> Path:
        return self.dirpath / f"step_{step:07d}.ckpt"

    def save(self, trainer: L.Trainer, step: int) -> None:
        """Every rank calls it (Lightning's save waits for all ranks, rank 0 writes): whether to save is
        decided from what this fit saved, never from the disk, which rank 0 may have just written."""
        if step not in self.saved:
            self.saved.add(step)
            trainer.save_checkpoint(self.path(step))

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step == 0:
            self.save(trainer, 0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        step = trainer.global_step
        if step in set(log_spaced(step)):
            self.save(trainer, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.last:
            self.save(trainer, trainer.global_step)
