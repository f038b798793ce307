"""The LightningModule: one shared step for train/val/test, torchmetrics, injected optimizer.

Hyperparameters are plain dicts (the fields of ``ModelConfig``, the optimizer's and the
scheduler's Hydra configs), so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import cast

import hydra
import lightning as L
import torch
import torch.nn.functional as F
from torch import Tensor
from torchmetrics import MaxMetric, Metric, MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    MulticlassAccuracy,
    MulticlassF1Score,
)
from torchmetrics.text import Perplexity

from attn_project.data.labels import IGNORE
from attn_project.errors import ConfigError
from attn_project.model import MaskedTokenClassifier, ModelConfig


def stage_metrics(num_classes: int) -> dict[str, Metric | MetricCollection]:
    """Two classes (content/function): accuracy, the F1 of class 1 and balanced accuracy, ``acc``,
    ``f1`` and ``balanced_acc`` (a skewed treebank: ``callbacks.model_checkpoint.monitor=
    val/balanced_acc``). More (upos, deprel, head_distance): accuracy, balanced accuracy (the mean
    recall over classes) and macro-F1, named so that nobody reads them as the binary ``f1``."""
    if num_classes == 2:
        return {"acc": BinaryAccuracy(), "f1": BinaryF1Score(),
                "balanced_acc": MulticlassAccuracy(2, average="macro")}
    out: dict[str, Metric | MetricCollection] = {
        "acc": MulticlassAccuracy(num_classes, average="micro"),
        "balanced_acc": MulticlassAccuracy(num_classes, average="macro"),
        "macro_f1": MulticlassF1Score(num_classes, average="macro")}
    if num_classes > TOP_K:  # many classes (the word task): is the right one among the first five?
        out["top5_acc"] = MulticlassAccuracy(num_classes, top_k=TOP_K, average="micro")
    return out


TOP_K = 5


@contextmanager
def exact_counting_allowed() -> Iterator[None]:
    """torchmetrics counts a confusion matrix with ``torch.bincount``, unless deterministic
    algorithms are on (``trainer.deterministic``): then it compares every prediction with every one
    of the C² cells — [N, C²] integers, 25 GB for the word task's ~1,000 classes and a batch of 3,000
    targets. Counting integers is exact in any order, so bincount is allowed while the metrics count."""
    deterministic, warn_only = (torch.are_deterministic_algorithms_enabled(),
                                torch.is_deterministic_algorithms_warn_only_enabled())
    torch.use_deterministic_algorithms(False)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)


class MaskedTokenModule(L.LightningModule):
    """Wraps ``MaskedTokenClassifier``; batches come from ``MaskedTokenDataModule``.

    A batch with ``mask_pos`` is one masked sentence per example; without it, a batch of
    unmasked sentences whose targets are all classified in one pass.
    """

    def __init__(self, model: dict, optimizer: dict | None, scheduler: dict | None = None,
                 compile: bool = False):
        super().__init__()
        self.save_hyperparameters()
        legacy = {"_target_"}  # in checkpoints written while the model YAML named a target
        self.model = MaskedTokenClassifier(ModelConfig(**{k: v for k, v in model.items() if k not in legacy}))
        if compile:  # both entry points: torch.compile(module) would compile forward() only
            for name in ("forward", "forward_all_masks"):
                setattr(self.model, name, torch.compile(getattr(self.model, name), dynamic=True))
        # Accuracy and F1 on val and test; training logs its loss only (metric updates on every
        # training step cost as much as the step itself at this model size).
        num_classes = self.model.config.num_classes
        self.metrics = torch.nn.ModuleDict({  # keys: "val"/"test" alone read fine, "train" would not
            f"{stage}_metrics": MetricCollection(stage_metrics(num_classes), prefix=f"{stage}/")
            for stage in ("val", "test")
        })
        self.perplexity = torch.nn.ModuleDict({stage: Perplexity() for stage in ("val", "test")})
        self.val_acc_best = MaxMetric()
        self.val_acc_best.persistent(True)  # saved in checkpoints, so a resumed run keeps its best

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
        """→ (logits [N, C], labels [N]) over the batch's targets."""
        logits, labels, _ = self.classify_targets(batch)
        return logits, labels

    def classify_targets(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor | None]:
        """→ (logits [N, C], labels [N], mask maps [B, H, T, T] or None with ``mask_pos``)."""
        if "masked" in batch:  # several masks per sentence (a deep model's random_masks training)
            logits = self.model.forward_masked(batch["ids"], batch["masked"])
            return logits, batch["labels"][batch["masked"]], None
        if "mask_pos" in batch:
            logits, _ = self.model(batch["ids"], batch["mask_pos"], need_weights=False,
                                   heads=batch.get("heads"), rows=batch.get("rows"))
            return logits, batch["labels"], None
        logits, mask_maps = self.model.forward_all_masks(batch["ids"], heads=batch.get("heads"),
                                                           rows=batch.get("rows"))  # [B, T, C]
        is_target = batch["labels"] != IGNORE
        return logits[is_target], batch["labels"][is_target], mask_maps  # [N, 2], [N]

    def shared_step(self, batch: dict[str, Tensor], stage: str) -> dict[str, Tensor]:
        """The loss, and for validation the mask maps (AttentionMetrics reads them)."""
        logits, labels, mask_maps = self.classify_targets(batch)
        loss = F.cross_entropy(logits, labels)
        if stage == "train":
            # Only on the steps the logger writes: Lightning's per-call bookkeeping is not free.
            if self.global_step % self.trainer.log_every_n_steps == 0:
                self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True)
            return {"loss": loss}
        metrics = cast(MetricCollection, self.metrics[f"{stage}_metrics"])
        with exact_counting_allowed():
            metrics.update(logits.argmax(-1) if logits.size(-1) == 2 else logits, labels)  # top-5: the scores
        self.log(f"{stage}/loss", loss, on_epoch=True, batch_size=len(labels))
        if logits.size(-1) > TOP_K:  # perplexity: exp of the mean cross-entropy over the targets
            perplexity = cast(Perplexity, self.perplexity[stage])
            perplexity.update(logits[None], labels[None])  # [1, N, C]: one "sequence" of targets
            self.log(f"{stage}/perplexity", perplexity, on_step=False, on_epoch=True)
        self.log_dict(metrics, on_step=False, on_epoch=True, prog_bar=stage == "val")
        return {"loss": loss} if mask_maps is None else {"loss": loss, "mask_maps": mask_maps.detach()}

    def training_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self.shared_step(batch, "train")

    def validation_step(self, batch: dict[str, Tensor], batch_idx: int) -> dict[str, Tensor]:
        return self.shared_step(batch, "val")

    def test_step(self, batch: dict[str, Tensor], batch_idx: int) -> None:
        self.shared_step(batch, "test")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            return
        acc = self.trainer.callback_metrics.get("val/acc")
        if acc is not None:
            self.val_acc_best.update(acc)
            self.log("val/acc_best", self.val_acc_best.compute(), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer | dict:
        if not self.hparams.optimizer:  # loaded from a checkpoint for eval/inspect: never trained
            raise ConfigError("this model was loaded for evaluation and has no optimizer; to train "
                              "on, resume with attn-train ckpt_path=… (the optimizer comes from the config)")
        optimizer = hydra.utils.instantiate(self.hparams.optimizer)(params=self.parameters())
        if not self.hparams.scheduler:
            return optimizer
        config = dict(self.hparams.scheduler)
        interval = config.pop("interval", "epoch")
        monitor = config.pop("monitor", None)  # ReduceLROnPlateau steps on a logged metric (None: no metric)
        if config.get("_target_", "").endswith("OneCycleLR"):
            config["total_steps"] = self.trainer.estimated_stepping_batches
        scheduler = hydra.utils.instantiate(config)(optimizer=optimizer)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": interval,
                                                         "monitor": monitor}}
