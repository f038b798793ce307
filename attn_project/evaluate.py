"""Test a saved checkpoint on the configured data, with the checkpoint's own tokenizer."""

from __future__ import annotations

import hydra
import lightning as L
from omegaconf import DictConfig

from attn_project.checkpoint import load_module


def evaluate(cfg: DictConfig) -> dict:
    L.seed_everything(cfg.seed, workers=True)
    module, tokenizer = load_module(cfg.ckpt_path)
    dm = hydra.utils.instantiate(cfg.data)
    dm.tokenizer = tokenizer  # ids must mean what they meant in training
    dm.setup()
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    results = trainer.test(module, datamodule=dm)[0]
    print({k: round(v, 4) for k, v in results.items()})
    return results
