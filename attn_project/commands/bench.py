"""Benchmarks, measured in one process: alternating A/B runs after a warm-up, medians reported.

- lightning_vs_raw: one training epoch under Lightning (our default trainer config, progress
  bar, logger and checkpoints off) ÷ the same epoch as a plain PyTorch loop (same tensors,
  batches, model initialisation and optimizer); loss_match: final losses equal to 1e-5.
- callback_overhead: a whole fit (default epochs, validation, TensorBoard) with the heat-map
  and attention-metrics callbacks at their config defaults ÷ without them, minus 1;
  callback_hook_share: the seconds spent inside those callbacks' hooks ÷ the fit without them
  (the same cost, measured directly: less noisy than the difference of two walls), split into
  callback_fit_start_s (once per fit: the figures laid out, the untrained model measured) and
  callback_epoch_s (per epoch: frames and metrics), the share a long fit tends to.
- lightning_step_overhead_ms: (Lightning epoch − plain epoch) ÷ training steps.
- scratch_vs_fused: forward+backward of our explicit attention ÷ the fused
  F.scaled_dot_product_attention path, at the model's sizes.
- epoch_s (sentence batches, the default) / epoch_s_examples / examples_per_s: one Lightning epoch
  per batching mode.
- mfu: the model's training FLOP/s (counted by torch's FlopCounterMode) ÷ the measured peak of
  a large fp32 torch.mm on the same device.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial

import lightning as L
import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig
from torch.utils.flop_counter import FlopCounterMode

from attn_project.commands.train import build_module, compose_config
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.model.attention import SingleHeadAttention
from attn_project.run.threads import set_threads
from attn_project.training.module import MaskedTokenModule


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn: Callable[[], object], device: str) -> tuple[float, object]:
    sync(device)
    start = time.perf_counter()
    result = fn()
    sync(device)
    return time.perf_counter() - start, result


def alternate(a: Callable, b: Callable, reps: int, device: str) -> tuple[list, list, list, list]:
    """Warm up both, then run A, B, A, B, …; returns both time lists and both result lists."""
    a()
    b()
    times_a: list[float] = []
    times_b: list[float] = []
    results_a: list = []
    results_b: list = []
    for _ in range(reps):
        for fn, times, results in ((a, times_a, results_a), (b, times_b, results_b)):
            t, result = timed(fn, device)
            times.append(t)
            results.append(result)
    return times_a, times_b, results_a, results_b


def compose_train_config(device: str, data_root: str | None = None) -> DictConfig:
    """conf/train.yaml as a default run composes it (the UD data config when data_root is given)."""
    overrides = ["trainer=gpu" if device.startswith("cuda") else "trainer=cpu"]
    if data_root:
        overrides += ["data=ud", f"data.root={data_root}"]
    return compose_config(*overrides, output_dir="/tmp/attn_bench")


def make_module(cfg: DictConfig, dm: MaskedTokenDataModule, seed: int = 0) -> MaskedTokenModule:
    """The default model and optimizer config, initialised the same way every time."""
    torch.manual_seed(seed)
    return build_module(cfg, dm)


class EpochTimer(L.Callback):
    """Times the last training epoch (``epoch_s``) and keeps every training loss."""

    def __init__(self, device: str):
        self.device, self.start, self.epoch_s = device, 0.0, 0.0
        self.losses: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module):
        sync(self.device)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(outputs["loss"].detach())

    def on_train_epoch_end(self, trainer, pl_module):
        sync(self.device)
        self.epoch_s = time.perf_counter() - self.start


def lightning_epoch(cfg: DictConfig, dm, device: str, **trainer_overrides) -> tuple[float, float]:
    """Fit under our default trainer config → (last training loss, seconds of the last epoch).

    The epoch is timed from ``on_train_epoch_start`` to ``on_train_epoch_end``, so the cost of
    setting up the fit is reported apart (``fit_overhead_s``), as in Lightning's parity tests.
    """
    module = make_module(cfg, dm)
    # fp32 on every device, so the Lightning and the plain loop compute the same numbers
    args = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False, callbacks=[],
                enable_model_summary=False,
                precision="32-true", max_epochs=1, limit_val_batches=0,
                default_root_dir=tempfile.mkdtemp())
    trainer = instantiate(cfg.trainer, **{**args, **trainer_overrides})
    timer = EpochTimer(device)
    trainer.callbacks.insert(0, timer)
    trainer.fit(module, datamodule=dm)
    return float(timer.losses[-1]), timer.epoch_s


def raw_epoch(cfg: DictConfig, dm, device: str) -> float:
    """The same epoch as a plain PyTorch loop; returns the last training loss."""
    module = make_module(cfg, dm).to(device)
    optimizer = instantiate(cfg.optimizer)(params=module.parameters())
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(0)
    module.train()
    for batch in loader:
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        logits, labels = module(batch)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def call_timed(hook: Callable, record: dict, name: str, device: str, *args, **kwargs):
    """Call ``hook``, adding its wall time to ``record[name]``."""
    seconds, result = timed(partial(hook, *args, **kwargs), device)
    record[name] = record.get(name, 0.0) + seconds
    return result


def timed_hooks(callback: L.Callback, record: dict, device: str) -> L.Callback:
    """Wrap every Lightning hook the callback defines so its wall time adds to record[hook name]."""
    for name in dir(L.Callback):
        if name.startswith("on_") and getattr(type(callback), name) is not getattr(L.Callback, name):
            setattr(callback, name, partial(call_timed, getattr(callback, name), record, name, device))
    return callback


def fit_with_callbacks(cfg: DictConfig, dm, device: str, log_dir: str, names: tuple[str, ...],
                       hook_s: list[dict]) -> None:
    """A whole fit with validation and TensorBoard and the named callbacks (the seconds in their
    hooks, by hook name, are appended to ``hook_s`` when there are any)."""
    record: dict[str, float] = {}
    callbacks = [timed_hooks(instantiate(cfg.callbacks[name]), record, device) for name in names]
    lightning_epoch(cfg, dm, device, limit_val_batches=1.0, max_epochs=cfg.trainer.max_epochs,
                    callbacks=callbacks, logger=TensorBoardLogger(log_dir, name="bench"))
    if names:
        hook_s.append(record)


def callback_overhead(cfg: DictConfig, dm, device: str, reps: int) -> dict[str, float]:
    """A whole fit at the default number of epochs, with validation and TensorBoard: with the
    heat-map and attention-metrics callbacks at their config defaults ÷ without, minus 1; the
    seconds spent inside those callbacks' hooks ÷ the fit without them (less noisy), and those
    seconds split into the fit's start and each epoch."""
    log_dir, hook_s = tempfile.mkdtemp(), list[dict]()
    with_cb, without, _, _ = alternate(
        partial(fit_with_callbacks, cfg, dm, device, log_dir, ("attention_heatmaps", "attention_metrics"),
                hook_s),
        partial(fit_with_callbacks, cfg, dm, device, log_dir, (), hook_s), reps, device)
    fit_s, timed_fits = statistics.median(without), hook_s[1:]  # [0]: warm-up
    fit_start = statistics.median(record["on_fit_start"] for record in timed_fits)
    total = statistics.median(sum(record.values()) for record in timed_fits)
    return {"callback_overhead": statistics.median(with_cb) / fit_s - 1, "callback_hook_share": total / fit_s,
            "callback_fit_start_s": fit_start,
            "callback_epoch_s": (total - fit_start) / cfg.trainer.max_epochs}


def attention_steps(attention: SingleHeadAttention, x: torch.Tensor, need_weights: bool) -> None:
    for _ in range(20):
        out, _ = attention(x, need_weights=need_weights)
        out.sum().backward()


def scratch_vs_fused(device: str, reps: int, batch: int = 512, length: int = 20, d: int = 64) -> float:
    attention = SingleHeadAttention(d).to(device)
    x = torch.randn(batch, length, d, device=device, requires_grad=True)
    explicit, fused, _, _ = alternate(partial(attention_steps, attention, x, True),
                                      partial(attention_steps, attention, x, False), reps, device)
    return statistics.median(explicit) / statistics.median(fused)


def peak_matmul_flops(device: str, n: int = 2048, reps: int = 5) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    torch.mm(a, b)
    times = [timed(lambda: torch.mm(a, b), device)[0] for _ in range(reps)]
    return 2 * n**3 / min(times)


def epoch_flops(cfg: DictConfig, dm, device: str) -> float:
    """FLOPs of one training epoch (forward + backward), counted by FlopCounterMode."""
    module = make_module(cfg, dm).to(device)
    counter = FlopCounterMode(display=False)
    with counter:
        for batch in dm.train_dataloader():
            batch = {k: v.to(device) for k, v in batch.items()}
            logits, labels = module(batch)
            F.cross_entropy(logits, labels).backward()
    return float(counter.get_total_flops())


def examples_epoch_s(cfg: DictConfig, dm, device: str, reps: int) -> float:
    """Median seconds of a Lightning epoch with example batching (512 masked copies a batch);
    the DataModule's batching is restored afterwards, whatever happens."""
    saved = dm.settings.batching, dm.settings.batch_size
    dm.settings.batching, dm.settings.batch_size = "examples", 512
    try:
        return statistics.median(lightning_epoch(cfg, dm, device)[1] for _ in range(max(1, reps // 2)))
    finally:
        dm.settings.batching, dm.settings.batch_size = saved


def run_benchmarks(data_root: str | None, device: str, reps: int, train_sentences: int | None,
                   log: Callable[[str], None] = print, batch_size: int | None = None,
                   threads: int | str = "auto") -> dict:
    set_threads(threads)
    cfg = compose_train_config(device, data_root)
    if batch_size:
        cfg.data.batch_size = batch_size
    dm: MaskedTokenDataModule = instantiate(cfg.data)
    dm.setup()
    if train_sentences:
        dm.tensors["train"] = dm.tensors["train"].first(train_sentences)
    examples = len(dm.tensors["train"].examples()[0])
    log(f"data: {'EWT' if data_root else 'default corpus'} train, {len(dm.tensors['train'])} "
        f"sentences, {examples} examples; device {device}")

    fit_s, raw_s, light, raw_losses = alternate(partial(lightning_epoch, cfg, dm, device),
                                                partial(raw_epoch, cfg, dm, device), reps, device)
    epoch_s, raw_epoch_s = statistics.median(s for _, s in light), statistics.median(raw_s)
    loss_light, loss_raw = light[-1][0], raw_losses[-1]
    steps = len(dm.train_dataloader())
    step_overhead_ms = (epoch_s - raw_epoch_s) / steps * 1000
    log(f"lightning_vs_raw {epoch_s / raw_epoch_s:.3f} ({step_overhead_ms:.2f} ms per step; "
        f"losses {loss_light:.6f} / {loss_raw:.6f})")
    examples_s = examples_epoch_s(cfg, dm, device, reps)
    log(f"epoch_s sentences {epoch_s:.2f}, examples {examples_s:.2f}")
    callbacks = callback_overhead(cfg, dm, device, reps)
    log(f"callback_overhead {callbacks['callback_overhead']:.3f} (time in their hooks: "
        f"{callbacks['callback_hook_share']:.3f} of the fit; {callbacks['callback_fit_start_s']:.2f} s "
        f"at its start, {callbacks['callback_epoch_s']:.3f} s per epoch)")
    scratch = scratch_vs_fused(device, reps)
    peak, flops = peak_matmul_flops(device), epoch_flops(cfg, dm, device)
    log(f"scratch_vs_fused {scratch:.2f}, mfu {flops / epoch_s / peak:.4f}")
    return {
        "device": device_name(device), "torch": torch.__version__, "lightning": L.__version__,
        "threads": torch.get_num_threads(), "batch_size": dm.settings.batch_size,
        "train_sentences": len(dm.tensors["train"]), "train_examples": examples,
        "train_steps": steps,
        "raw_epoch_s": raw_epoch_s,
        "fit_overhead_s": statistics.median(fit_s) - epoch_s,
        "lightning_vs_raw": epoch_s / raw_epoch_s, "lightning_step_overhead_ms": step_overhead_ms,
        "lightning_fit_vs_raw": statistics.median(fit_s) / raw_epoch_s,
        "loss_match": abs(loss_light - loss_raw) <= 1e-5,
        "epoch_s": epoch_s, "epoch_s_examples": examples_s,
        "examples_per_s": examples / epoch_s,
        **callbacks,
        "scratch_vs_fused": scratch, "peak_flops": peak, "train_flops_per_epoch": flops,
        "mfu": flops / epoch_s / peak,
    }


DEPTH_RUNS = {  # name → overrides of the train config; one training epoch each on the same data
    "one_layer": ["experiment=ud_single_head"],
    "two_layers_examples": ["experiment=ud_multi_head_relative", "model.num_layers=2",
                            "data.batching=examples"],
    "two_layers_random_masks": ["experiment=ud_multi_head_relative", "model.num_layers=2",
                                "data.batching=random_masks"],
}


def depth_benchmark(data_root: str, device: str, threads: int | str = 1, train_sentences: int | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """Seconds of one training epoch (no validation) of the one-layer ``ud_single_head`` and of a
    two-layer four-head model with exact (``examples``) and BERT-style (``random_masks``) batching,
    one after another in this process, and each deep epoch ÷ the one-layer epoch."""
    set_threads(threads)
    out: dict = {"device": device_name(device), "threads": torch.get_num_threads()}
    for name, overrides in DEPTH_RUNS.items():
        trainer = "trainer=gpu" if device.startswith("cuda") else "trainer=cpu"
        cfg = compose_config(*overrides, f"data.root={data_root}", trainer, output_dir="/tmp/attn_bench")
        dm: MaskedTokenDataModule = instantiate(cfg.data)
        dm.setup()
        if train_sentences:
            dm.tensors["train"] = dm.tensors["train"].first(train_sentences)
        out[f"{name}_epoch_s"] = lightning_epoch(cfg, dm, device)[1]
        log(f"{name}: {out[f'{name}_epoch_s']:.1f} s per epoch ({len(dm.tensors['train'])} sentences)")
    for name in ("two_layers_examples", "two_layers_random_masks"):
        out[f"{name}_vs_one_layer"] = out[f"{name}_epoch_s"] / out["one_layer_epoch_s"]
    return out


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(0)
    import platform

    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
