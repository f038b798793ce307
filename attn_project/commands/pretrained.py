"""``attn-pretrained``: load the encoder, read a treebank's dev and test splits through it, write
the report, figures and TensorBoard events."""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path

import hydra
import numpy as np
import torch
from omegaconf import DictConfig

from attn_project.analysis.lens import SplitRows
from attn_project.analysis.report_schema import AttentionBlock
from attn_project.analysis.rows import head_names
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.errors import DataError
from attn_project.pretrained.inspect import INTRO
from attn_project.pretrained.lens import floor_seconds, split_rows
from attn_project.pretrained.load import (
    ModelFiles,
    device_of,
    load_model,
    load_tokenizer,
    max_pieces,
    model_files,
)
from attn_project.pretrained.report import (
    best_head_bars,
    grid_figure,
    lens_markdown,
    lens_report,
    sample_figure,
    write_outputs,
)
from attn_project.viz.html_view import write_html


def description(files: ModelFiles) -> str:
    if files.bundled:
        return ("The bundled sentence-transformers/all-MiniLM-L6-v2: BERT architecture, a sentence-embedding "
                "model fine-tuned from MiniLM — not BERT itself.")
    return f"A local {files.config.get('model_type')} model from {files.folder}."


def output_folder(cfg: DictConfig, name: str) -> Path:
    if cfg.out:
        return Path(cfg.out)
    treebank = Path(str(cfg.data.root)).name or "treebank"  # two treebanks never share a folder name
    return (Path(cfg.paths.log_dir) / "pretrained" / name / treebank
            / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f"))


def winning_heads(block: AttentionBlock, top: int = 6) -> dict[int, list[str]]:
    """Head → the relations (of the ``top`` most frequent that beat position; else of the most
    frequent) for which it is the best head."""
    tested = sorted(block.per_relation.items(), key=lambda kv: -kv[1].n)
    winners = [(rel, r) for rel, r in tested if r.beats_position] or tested
    heads: dict[int, list[str]] = {}
    for rel, r in winners[:top]:
        if r.best_head is not None:
            heads.setdefault(r.best_head, []).append(rel)
    return heads


def run_lens(cfg: DictConfig) -> dict[str, Path]:
    """The whole lens; returns the written files."""
    start = time.perf_counter()
    files = model_files(cfg.pretrained.path, float(cfg.pretrained.max_memory_gb))
    device = device_of(str(cfg.pretrained.device))
    dm: MaskedTokenDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    model, tokenizer = load_model(files, device), load_tokenizer(files)
    layers, heads = int(model.config.num_hidden_layers), int(model.config.num_attention_heads)
    names = head_names(layers, heads)
    pad_id = int(model.config.pad_token_id or 0)
    samples = dm.sample_indices("test")[: int(cfg.num_samples)]

    def through_lens(split: str, sample_indices: list[int]) -> SplitRows:
        return split_rows(model, tokenizer, dm.sentences[split], dm.tensors[split], layers=layers,
                          max_pieces=max_pieces(files.config), pad_id=pad_id,
                          batch_size=int(cfg.pretrained.batch_size), device=device, samples=sample_indices,
                          punct_edges=bool(cfg.analysis.punct_edges), desc=split)

    floor = (sum(floor_seconds(model, tokenizer, dm.sentences[split], max_pieces=max_pieces(files.config),
                               pad_id=pad_id, batch_size=int(cfg.pretrained.batch_size), device=device)
                 for split in ("dev", "test")) if cfg.pretrained.measure_floor else None)
    lens_start = time.perf_counter()
    dev, test = through_lens("dev", []), through_lens("test", samples)
    forward_s = dev.seconds + test.seconds
    if len(test.rows.sentence) == 0:
        raise DataError(f"data.root={cfg.data.root}: the test split holds no scored word (every word is "
                        f"punctuation, or every sentence was skipped: {test.skipped_too_long} too long, "
                        f"{test.skipped_unmapped} unmapped)")
    run = {"model": files.name, "description": description(files), "path": str(files.folder),
           "layers": layers, "heads": heads, "head_names": names, "corpus": str(cfg.data.root),
           "task": str(cfg.task.name),
           "test_sentences": len(test.kept), "dev_sentences": len(dev.kept),
           "skipped_too_long": test.skipped_too_long + dev.skipped_too_long,
           "skipped_unmapped": test.skipped_unmapped + dev.skipped_unmapped,
           "device": device, "threads": torch.get_num_threads()}
    report, block, grid = lens_report(test, dev, dm.relations, run, layers=layers,
                                      punct_edges=bool(cfg.analysis.punct_edges),
                                      resamples=int(cfg.analysis.bootstrap_resamples), seed=int(cfg.seed))
    figures = {"layer_head_margin": grid_figure(grid, f"{files.name}: alignment − best offset per head"),
               "per_relation": best_head_bars(block, names)}
    figures |= sample_figures(test, dm, winning_heads(block), names)
    samples_view = [{"text": " ".join(dm.tokens_of("test", i)), "tokens": dm.tokens_of("test", i),
                     "unknown": [False] * len(dm.tokens_of("test", i)), "layers": layers,
                     "predictions": [None] * len(dm.tokens_of("test", i)), "weights": w.tolist()}
                    for i, w in sorted(test.samples.items())]
    folder = output_folder(cfg, files.name)
    paths = write_outputs(folder, report, lens_markdown(report, block, names), figures)
    paths["html"] = write_html(folder / "attention.html", samples_view, f"Attention of {files.name}", INTRO)
    lens_s = time.perf_counter() - lens_start  # pieces → words, rows, tests, report, figures, writing
    report["run"]["seconds"] = {"forward_and_rows": round(forward_s, 2), "lens": round(lens_s, 4),
                                "floor": None if floor is None else round(floor, 4),
                                "lens_over_floor": None if floor is None else round(lens_s / floor, 3),
                                "total": round(time.perf_counter() - start, 2)}
    paths["json"].write_text(json.dumps(report, indent=1), encoding="utf-8")  # with the timings
    print(f"pretrained report: {paths['md']}")
    return paths


def sample_figures(test: SplitRows, dm: MaskedTokenDataModule, heads: dict[int, list[str]],
                   names: list[str]) -> dict:
    out = {}
    for k, (index, weights) in enumerate(sorted(test.samples.items())):
        tokens = dm.tokens_of("test", index)
        title = f"Test sentence {index}: the heads that best find each relation's head"
        out[f"sample{k}"] = sample_figure(np.asarray(weights), tokens, heads, names, title,
                                          gold_heads=dm.sentences["test"][index].heads)
    return out
