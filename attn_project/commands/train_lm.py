"""``attn-train experiment=lm_mlm`` / ``lm_causal``: a language model trained from scratch on running
text, checkpointed at log-spaced steps, tested on its held-out split; ``export`` turns a causal one
into a Hugging Face GPT-2 folder."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import lightning as L
import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf
from tokenizers import Tokenizer

from attn_project.analysis.one_masked import one_masked_scores
from attn_project.analysis.significance import Bootstrap
from attn_project.analysis.text_baselines import baselines_and_trigram_hits
from attn_project.data.files import atomic_write_text
from attn_project.data.lm_datamodule import PAD_ID, TextDataModule
from attn_project.errors import CheckpointError
from attn_project.model.encoder import EncoderConfig
from attn_project.model.language_model import LanguageModel
from attn_project.pretrained.export import export_gpt2
from attn_project.run.configs import plain
from attn_project.run.threads import set_threads
from attn_project.training.lm_module import LanguageModelModule

log = logging.getLogger(__name__)


def build_language_model(cfg: DictConfig, dm: TextDataModule) -> LanguageModelModule:
    """The module of ``cfg.model`` (an ``lm_*`` size) with the data's vocabulary and positions."""
    assert dm.tokenizer is not None
    model = {**plain(cfg.model), "vocab_size": dm.vocab_size, "max_len": dm.max_len,
             "causal": cfg.objective == "causal", "pad_id": PAD_ID}
    return LanguageModelModule(model=model, **plain(cfg.lm), tokenizer_json=dm.tokenizer.to_str())


def fit_language_model(cfg: DictConfig, out: Path, build_trainer) -> tuple[float | None, dict]:
    """Train, validate every ``trainer.val_check_interval`` steps, test the last weights; write
    metrics.json and the tokenizer into the run folder."""
    set_threads(cfg.get("threads", "auto"))
    L.seed_everything(cfg.seed, workers=True)
    dm: TextDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    assert dm.tokenizer is not None
    (out / "tokenizer").mkdir(parents=True, exist_ok=True)
    dm.tokenizer.save(str(out / "tokenizer" / "tokenizer.json"))
    module = build_language_model(cfg, dm)
    if cfg.get("compile"):  # torch.compile the model in place: the checkpoints keep its plain names
        module.model.encoder.compile()
    trainer = build_trainer(cfg)
    started = time.perf_counter()
    trainer.fit(module, datamodule=dm, ckpt_path=cfg.get("ckpt_path"), weights_only=False)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    metrics["train/seconds"] = time.perf_counter() - started
    if cfg.get("test", True):
        trainer.test(module, datamodule=dm, verbose=True)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items()})
        metrics |= held_out_readings(module, dm)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True))
    print(f"run folder: {out}")
    return metrics.get(cfg.get("optimized_metric") or "val/loss"), metrics


def held_out_readings(module: LanguageModelModule, dm: TextDataModule) -> dict[str, float]:
    """Beside the test metrics, on the same test positions: a masked LM's one-word-masked reading
    (``test/one_masked/…``) and every n-gram baseline (``baseline/<name>/…``)."""
    metrics: dict[str, float] = {}
    baselines, kn_hits, words = baselines_and_trigram_hits(dm)  # the trigram fitted once
    if dm.objective == "mlm":
        one = one_masked_scores(module.model, dm.eval_batches["test"])
        metrics |= {f"test/one_masked/{key}": float(one[key]) for key in ("top1", "top5", "perplexity")}
        metrics |= one_masked_minus_trigram(one, kn_hits, words)
        difference = [metrics[DIFFERENCE + end] for end in ("", "_ci95_low", "_ci95_high")]
        log.info("one word masked at a time: top-1 %.4f, top-5 %.4f, perplexity %.1f; minus the "
                 "Kneser–Ney trigram's top-1 %+.4f [%+.4f, %+.4f] (sentence bootstrap)", one["top1"],
                 one["top5"], one["perplexity"], *difference)
    for name, scores in baselines.items():  # the n-gram models on the same test positions
        metrics |= {f"baseline/{name}/{key}": value for key, value in scores.items()}
        log.info("baseline %s: top-1 %.4f, top-5 %.4f, perplexity %.1f", name, scores["acc"],
                 scores["top5_acc"], scores["perplexity"])
    return metrics


DIFFERENCE = "test/one_masked_minus_trigram_kn/top1"


def one_masked_minus_trigram(one: dict, kn_hits: np.ndarray, words: np.ndarray,
                             resamples: int = 1000) -> dict[str, float]:
    """The masked LM's one-masked top-1 minus the Kneser–Ney trigram's on the same test words, paired
    per word, with a 95% bootstrap interval over the test sentences (one run: its own uncertainty)."""
    if not np.array_equal(words, one["truth"]):
        raise ValueError("the model's and the trigram's test words differ: the pairs would not be pairs")
    value, ci = Bootstrap(one["sentence"], resamples).mean(one["hits"].astype(float) - kn_hits)
    low, high = ci if ci is not None else (float("nan"), float("nan"))
    return {DIFFERENCE: float(value if value is not None else float("nan")),
            f"{DIFFERENCE}_ci95_low": float(low), f"{DIFFERENCE}_ci95_high": float(high)}


def is_language_model_checkpoint(path: str | Path) -> bool:
    """Whether a checkpoint is a language model's (its hyperparameters hold a tokenizer and lm
    settings, not a classifier's optimizer group); False for anything unreadable (the caller's
    loader then names the problem)."""
    try:
        hparams = torch.load(path, map_location="cpu", weights_only=True).get("hyper_parameters", {})
    except Exception:  # torch raises many kinds for a file that is not a checkpoint
        return False
    return "tokenizer_json" in hparams and "optimizer" not in hparams


def saved_data(run: Path) -> DictConfig | None:
    """The data settings a run folder's ``.hydra/config.yaml`` recorded (None where there are none)."""
    path = run / ".hydra" / "config.yaml"
    data = OmegaConf.select(OmegaConf.load(path), "data", throw_on_resolution_failure=False) \
        if path.is_file() else None
    return data if isinstance(data, DictConfig) else None


def test_language_model(ckpt_path: str | Path, out: Path, trainer: L.Trainer) -> dict:
    """The checkpoint's held-out metrics and the n-gram baselines on the same test positions, on
    the data its run trained on (the run folder's .hydra/config.yaml); written to out/metrics.json."""
    run = Path(ckpt_path).resolve().parent.parent  # RUN/checkpoints/step_….ckpt
    config = run / ".hydra" / "config.yaml"
    data = saved_data(run)
    if data is None:
        raise CheckpointError(f"ckpt_path={ckpt_path}: its run folder has no .hydra/config.yaml with the "
                              f"data settings to read")
    dm: TextDataModule = hydra.utils.instantiate(data)
    dm.setup()
    checkpoint = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    if dm.tokenizer is None or dm.tokenizer.to_str() != checkpoint["hyper_parameters"]["tokenizer_json"]:
        raise CheckpointError(f"ckpt_path={ckpt_path}: the data of {config} no longer gives the run's "
                              f"vocabulary (its files changed?); the checkpoint's ids would mean other words")
    module = LanguageModelModule(**checkpoint["hyper_parameters"])
    module.load_state_dict(checkpoint["state_dict"])
    metrics = {k: float(v) for k, v in trainer.test(module, datamodule=dm, verbose=False)[0].items()}
    metrics |= held_out_readings(module, dm)
    record = {"ckpt_path": str(ckpt_path), "step": int(checkpoint.get("global_step", -1)), **metrics}
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(record, indent=1, sort_keys=True))
    print({k: round(v, 4) for k, v in metrics.items()})
    print(f"wrote {out / 'metrics.json'}")
    return metrics


def load_language_model(path: str | Path) -> tuple[LanguageModel, Tokenizer]:
    """The model and tokenizer of a language-model checkpoint (weights only: nothing it names is run)."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        hparams = checkpoint["hyper_parameters"]
        model = LanguageModel(EncoderConfig(**hparams["model"]))
        model.load_state_dict({k.removeprefix("model."): v for k, v in checkpoint["state_dict"].items()})
        tokenizer = Tokenizer.from_str(hparams["tokenizer_json"])
    except (OSError, KeyError, TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"ckpt_path={path}: not a language-model checkpoint of this project "
                              f"({type(err).__name__}: {str(err)[:200]})") from None
    return model.eval(), tokenizer


def export(ckpt_path: str, out: str) -> list[Path]:
    """``scripts/export_hf.py ckpt_path=… out=DIR``: a causal LM checkpoint → a GPT-2 folder."""
    model, tokenizer = load_language_model(ckpt_path)
    return export_gpt2(model, tokenizer, Path(out))
