"""A language model's attention on fixed dev sentences at each log-spaced checkpoint step (0, 10, 20,
50, …, the last): every head, named ``L<l>H<h>``, as a TensorBoard figure whose step is the training
step — the heads forming, beside the loss, while the model trains."""

from __future__ import annotations

import lightning as L
import numpy as np
import torch

from attn_project.analysis.rows import head_names
from attn_project.training.callbacks.log_checkpoints import log_spaced
from attn_project.viz import plots

TAG = "lm_attention/dev_sentence{k}"


class LanguageModelHeatmaps(L.Callback):
    def __init__(self, num_sentences: int = 2, max_tokens: int = 12):
        self.num_sentences, self.max_tokens = num_sentences, max_tokens
        self.logged: set[int] = set()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.global_step == 0:
            self.draw(trainer, pl_module, 0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: object,
                           batch: object, batch_idx: int) -> None:
        step = trainer.global_step
        if step in set(log_spaced(step)):
            self.draw(trainer, pl_module, step)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.draw(trainer, pl_module, trainer.global_step)

    def sentences(self, trainer: L.Trainer) -> list[np.ndarray]:
        """The first dev sentences short enough to read as a heat map (the same at every step)."""
        dm = trainer.datamodule  # type: ignore[attr-defined]
        short = [row for row in dm.splits["dev"] if dm.arrays.lengths[row] <= self.max_tokens]
        return [dm.arrays.sentence(row) for row in short[:self.num_sentences]]

    def draw(self, trainer: L.Trainer, pl_module: L.LightningModule, step: int) -> None:
        experiment = getattr(trainer.logger, "experiment", None)
        if experiment is None or step in self.logged or not trainer.is_global_zero \
                or not hasattr(experiment, "add_figure"):
            return
        self.logged.add(step)
        model = pl_module.model  # type: ignore[attr-defined]
        config = model.config
        names = head_names(config.num_layers, config.num_heads)
        tokenizer = trainer.datamodule.tokenizer  # type: ignore[attr-defined]
        was_training = model.training
        model.eval()
        try:
            for k, sentence in enumerate(self.sentences(trainer)):
                ids = torch.as_tensor(sentence.astype(np.int64), device=pl_module.device)[None]  # [1, T]
                with torch.no_grad():
                    _, weights = model(ids, need_weights=True)  # [1, L, H, T, T]
                maps = weights[0].flatten(0, 1).float().cpu()  # [L·H, T, T]
                tokens = [tokenizer.id_to_token(int(i)) for i in sentence]
                title = f"dev sentence {k} at step {step}"
                fig = plots.head_grid_figure(maps, tokens, title, panel_names=names)
                experiment.add_figure(TAG.format(k=k), fig, step, close=True)
        finally:
            model.train(was_training)
