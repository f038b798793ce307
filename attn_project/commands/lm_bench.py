"""``attn-bench --lm``: the language model's speed, measured in one process on the same batches
(ratios, not seconds, are what carries from one machine to another):

- tokens_per_s (``<objective>_tokens_per_s_<threads>``): training tokens (words, padding not
  counted) per second of the default LM, masked and causal, with one thread and with all cores;
- lightning_vs_plain: N training steps under Lightning (the experiment's clipping and schedule,
  logger and checkpoints off) ÷ the same steps as a plain PyTorch loop (same initial weights,
  batches, optimizer and schedule); loss_match: the last losses equal to 1e-4 (dropout is off
  here, so both runs compute the same numbers);
- ours_vs_hf: Hugging Face's GPT-2 of the same sizes (its fused attention), N steps on the same
  batches with the same optimizer ÷ ours (≥ 1: ours is as fast);
- mfu: the training FLOP/s (torch's FlopCounterMode over the steps' forward and backward) ÷ the
  measured peak of a large fp32 matmul on the same device and threads;
- weights_cost: a step that returns every layer's attention weights (the from-scratch path) ÷ one
  that does not (the fused kernel).
"""

from __future__ import annotations

import copy
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

import hydra
import lightning as L
import torch
from torch import Tensor
from torch.utils.flop_counter import FlopCounterMode

from attn_project.commands.bench import device_name, peak_matmul_flops
from attn_project.commands.train import compose_config
from attn_project.data.lm_datamodule import Batched, TextDataModule
from attn_project.run.configs import plain
from attn_project.run.threads import set_threads
from attn_project.training.lm_module import LanguageModelModule

Batch = dict[str, Tensor]


def bench_setup(objective: str, size: str,
                overrides: list[str]) -> tuple[LanguageModelModule, TextDataModule, dict]:
    """The experiment's module (dropout off) and data, and its trainer settings."""
    cfg = compose_config(f"experiment=lm_{objective}", f"model={size}", "model.dropout=0.0", *overrides,
                         output_dir="/tmp/attn_lm_bench")
    dm: TextDataModule = hydra.utils.instantiate(cfg.data)
    dm.setup()
    assert dm.tokenizer is not None
    model = {**plain(cfg.model), "vocab_size": dm.vocab_size, "max_len": dm.max_len,
             "causal": objective == "causal", "pad_id": 0}
    module = LanguageModelModule(model=model, **plain(cfg.lm), tokenizer_json=dm.tokenizer.to_str())
    return module, dm, plain(cfg.trainer)


def first_batches(dm: TextDataModule, steps: int) -> list[Batch]:
    loader = iter(dm.train_dataloader())
    return [next(loader) for _ in range(steps)]


def tokens(batches: list[Batch]) -> int:
    return sum(int((b["ids"] != 0).sum()) for b in batches)


def plain_steps(module: LanguageModelModule, batches: list[Batch], clip: float) -> tuple[float, float]:
    """(seconds, last loss) of the steps as a plain loop."""
    optimizer, schedule = module.optimizer_and_schedule(len(batches))
    module.train()
    start = time.perf_counter()
    for batch in batches:
        loss = module.model.loss(batch["ids"], batch["labels"])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
        optimizer.step()
        schedule.step()
    return time.perf_counter() - start, float(loss)


class StepClock(L.Callback):
    """Seconds from the first training step's start to the last one's end, and the last loss."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if batch_idx == 0:
            self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.end, self.loss = time.perf_counter(), float(outputs["loss"])


def lightning_steps(module: LanguageModelModule, batches: list[Batch], clip: float) -> tuple[float, float]:
    clock = StepClock()
    trainer = L.Trainer(max_steps=len(batches), accelerator="cpu", devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        gradient_clip_val=clip, callbacks=[clock], num_sanity_val_steps=0,
                        limit_val_batches=0)
    loader = torch.utils.data.DataLoader(Batched(batches), batch_size=None)  # the same batches, in order
    trainer.fit(module, train_dataloaders=loader)
    return clock.end - clock.start, clock.loss


def hf_gpt2(module: LanguageModelModule):
    """Hugging Face's GPT-2 with the model's sizes (fused attention), freshly initialised."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from attn_project.pretrained.export import gpt2_config

    config = gpt2_config(module.model) | {"attn_implementation": "sdpa"}
    return GPT2LMHeadModel(GPT2Config(**config))


def hf_steps(model, batches: list[Batch], clip: float) -> float:
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.98), weight_decay=0.01)
    model.train()
    start = time.perf_counter()
    for batch in batches:
        mask = (batch["ids"] != 0).long()
        labels = batch["ids"].masked_fill(mask == 0, -100)  # GPT-2 shifts them itself: the next words
        loss = model(input_ids=batch["ids"], attention_mask=mask, labels=labels).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    return time.perf_counter() - start


def weighted_steps(module: LanguageModelModule, batches: list[Batch], need_weights: bool) -> float:
    """Seconds of forward + backward with or without every layer's attention weights returned."""
    start = time.perf_counter()
    for batch in batches:
        logits, _ = module.model(batch["ids"], need_weights=need_weights)
        logits.float().mean().backward()
    return time.perf_counter() - start


def step_flops(module: LanguageModelModule, batch: Batch) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        module.model.loss(batch["ids"], batch["labels"]).backward()
    return float(counter.get_total_flops())


def fresh_plain_steps(module: LanguageModelModule, batches: list[Batch], clip: float) -> float:
    """Seconds of the plain loop from a copy of the module's weights (the module is left as it was)."""
    return plain_steps(copy.deepcopy(module), batches, clip)[0]


def median_of(fn: Callable[[], float], reps: int) -> float:
    fn()  # warm-up
    return statistics.median(fn() for _ in range(reps))


def lm_benchmark(size: str = "lm_small", steps: int = 20, reps: int = 3, overrides: list[str] | None = None,
                 log: Callable[[str], None] = print) -> dict:
    """Every figure of the module docstring; the comparisons at one thread."""
    overrides = overrides or []
    out: dict = {"torch": torch.__version__, "lightning": L.__version__, "size": size, "steps": steps}
    for objective in ("mlm", "causal"):
        module, dm, trainer_cfg = bench_setup(objective, size, overrides)
        batches = first_batches(dm, steps)
        clip = float(trainer_cfg.get("gradient_clip_val") or 1.0)
        for threads in sorted({1, os.cpu_count() or 1}):
            set_threads(threads)
            seconds = median_of(partial(fresh_plain_steps, module, batches, clip), reps)
            key = f"{objective}_tokens_per_s_{threads}_thread{'s' if threads > 1 else ''}"
            out[key] = tokens(batches) / seconds
            log(f"{key} {out[key]:.0f}")
    set_threads(1)
    out["device"] = device_name("cpu")
    # the comparisons: the causal LM (GPT-2 is its Hugging Face twin), one thread
    plain_s, light_s, plain_loss, light_loss = [], [], 0.0, 0.0
    for _ in range(reps):  # alternating, each from the same initial weights
        s, plain_loss = plain_steps(copy.deepcopy(module), batches, clip)
        plain_s.append(s)
        s, light_loss = lightning_steps(copy.deepcopy(module), batches, clip)
        light_s.append(s)
    out["lightning_vs_plain"] = statistics.median(light_s) / statistics.median(plain_s)
    out["loss_match"] = abs(plain_loss - light_loss) <= 1e-4
    log(f"lightning_vs_plain {out['lightning_vs_plain']:.3f} (losses {light_loss:.6f} / {plain_loss:.6f})")
    hf = hf_gpt2(module)
    hf_s = median_of(lambda: hf_steps(copy.deepcopy(hf), batches, clip), reps)
    out["ours_vs_hf"] = hf_s / statistics.median(plain_s)
    log(f"ours_vs_hf {out['ours_vs_hf']:.3f} (Hugging Face's GPT-2 seconds ÷ ours)")
    peak, flops = peak_matmul_flops("cpu"), sum(step_flops(copy.deepcopy(module), b) for b in batches)
    out["peak_flops"], out["train_flops"] = peak, flops
    out["mfu"] = flops / statistics.median(plain_s) / peak
    fused = median_of(lambda: weighted_steps(module, batches, False), reps)
    out["weights_cost"] = median_of(lambda: weighted_steps(module, batches, True), reps) / fused
    log(f"mfu {out['mfu']:.3f} (peak {peak / 1e9:.1f} GFLOP/s), weights_cost {out['weights_cost']:.2f}")
    return out
