"""The LightningModule of a language model (masked or causal, ``model.language_model``): AdamW,
linear warm-up then cosine decay to ``min_lr_ratio`` of the peak over ``trainer.max_steps`` (stepped
by Lightning, the learning rate logged by its monitor), and torchmetrics over the scored positions:
loss, perplexity, top-1 and top-5 accuracy of the predicted word; tokens per second while training."""

from __future__ import annotations

import math
import time
from typing import Any, cast

import lightning as L
import torch
from torch import Tensor
from torch.optim.lr_scheduler import LambdaLR
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from attn_project.data.labels import IGNORE
from attn_project.model.encoder import EncoderConfig
from attn_project.model.language_model import LanguageModel


def warmup_cosine(step: int, warmup: int, total: int, floor: float) -> float:
    """The learning rate's multiplier: linear up over ``warmup`` steps, then cosine down to ``floor``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))


class LanguageModelModule(L.LightningModule):
    def __init__(self, model: dict, lr: float = 1e-3, weight_decay: float = 0.01, warmup_steps: int = 100,
                 min_lr_ratio: float = 0.1, betas: tuple[float, float] = (0.9, 0.98),
                 tokenizer_json: str = ""):
        super().__init__()
        self.save_hyperparameters()
        self.model = LanguageModel(EncoderConfig(**model))
        vocab = self.model.config.vocab_size
        self.metrics = torch.nn.ModuleDict({split: torch.nn.ModuleDict({
            "loss": MeanMetric(),
            "top1": MulticlassAccuracy(vocab, top_k=1, average="micro", ignore_index=IGNORE),
            "top5": MulticlassAccuracy(vocab, top_k=min(5, vocab), average="micro", ignore_index=IGNORE),
        }) for split in ("val", "test")})
        self.tokens_seen = 0
        self.last_time: float | None = None

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> Tensor:
        loss = self.model.loss(batch["ids"], batch["labels"])
        tokens = int((batch["ids"] != self.model.config.pad_id).sum())
        self.tokens_seen += tokens
        now = time.perf_counter()
        if self.last_time is not None:
            self.log("train/tokens_per_s", tokens / max(now - self.last_time, 1e-9), on_step=True)
        self.last_time = now
        self.log("train/loss", loss, on_step=True, prog_bar=True)
        self.log("train/tokens", float(self.tokens_seen), on_step=True)
        return loss

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["tokens_seen"] = self.tokens_seen  # so that a resumed run's train/tokens goes on counting

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.tokens_seen = int(checkpoint.get("tokens_seen", 0))  # runs saved before it kept none

    def evaluate(self, batch: dict[str, Tensor], split: str) -> None:
        labels = batch["labels"]
        scored = labels != IGNORE
        logits = self.model.scored_logits(batch["ids"], scored)  # [N scored, V]: only where it is scored
        loss = torch.nn.functional.cross_entropy(logits, labels[scored])
        metrics = cast(torch.nn.ModuleDict, self.metrics[split])
        cast(MeanMetric, metrics["loss"]).update(loss, weight=int(scored.sum()))
        for name in ("top1", "top5"):
            cast(MulticlassAccuracy, metrics[name]).update(logits, labels[scored])

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.evaluate(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.evaluate(batch, "test")

    def log_split(self, split: str) -> None:
        metrics = cast(torch.nn.ModuleDict, self.metrics[split])
        loss = cast(MeanMetric, metrics["loss"]).compute()
        scores = {name: cast(MulticlassAccuracy, metrics[name]).compute() for name in ("top1", "top5")}
        self.log_dict({f"{split}/loss": loss, f"{split}/perplexity": torch.exp(loss),
                       **{f"{split}/{name}": value for name, value in scores.items()}})
        for metric in metrics.values():
            cast(MeanMetric, metric).reset()

    def on_validation_epoch_end(self) -> None:
        self.log_split("val")

    def on_test_epoch_end(self) -> None:
        self.log_split("test")

    def configure_optimizers(self) -> Any:
        optimizer, schedule = self.optimizer_and_schedule(self.trainer.max_steps if self.trainer.max_steps > 0
                                                          else 10_000)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    def optimizer_and_schedule(self, total_steps: int) -> tuple[torch.optim.AdamW, LambdaLR]:
        """AdamW (no decay on biases, norms and positions) and warm-up then cosine to ``min_lr_ratio``."""
        h = self.hparams
        decay = [p for n, p in self.named_parameters() if p.dim() >= 2 and "positions" not in n]
        other = [p for n, p in self.named_parameters() if not (p.dim() >= 2 and "positions" not in n)]
        optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": h.weight_decay},
                                       {"params": other, "weight_decay": 0.0}], lr=h.lr, betas=tuple(h.betas))
        schedule = LambdaLR(
            optimizer, lambda step: warmup_cosine(step, h.warmup_steps, total_steps, h.min_lr_ratio))
        return optimizer, schedule
