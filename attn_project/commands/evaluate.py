"""Test a saved checkpoint on the data its run trained on (or on data the command names)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import hydra
import lightning as L
from omegaconf import DictConfig, OmegaConf

from attn_project.commands.train import check_accelerator, run_dir
from attn_project.commands.train_lm import is_language_model_checkpoint, test_language_model
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.data.files import atomic_write_text
from attn_project.data.settings import DataSettings
from attn_project.errors import CheckpointError, ConfigError, DataError
from attn_project.pretrained.masked_rows import attach_pretrained_rows
from attn_project.run.configs import plain
from attn_project.run.console import one_line_per_message, quiet_console
from attn_project.run.threads import set_threads
from attn_project.training.checkpoint import load_run


def override_keys(overrides: list[str]) -> list[str]:
    """The keys of command-line overrides (``+data.root=x`` → ``data.root``)."""
    return [o.split("=", 1)[0].lstrip("+~") for o in overrides]


def names_data(overrides: list[str]) -> bool:
    """True when the command line chose the data (``data=ud``, ``data.root=…``, ``experiment=…``)."""
    keys = override_keys(overrides)
    return any(k == "data" or k.startswith("data.") or k == "experiment" for k in keys)


def task_overrides() -> list[str]:
    from hydra.core.hydra_config import HydraConfig

    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:
        return []


def run_datamodule(ckpt_path: str, stored: DataSettings | None, local: DictConfig) -> MaskedTokenDataModule:
    """The DataModule of the run that wrote the checkpoint, from the settings stored in it.

    The stored settings were checked like a config (known keys, types, ranges: ``DataSettings``)
    as the checkpoint was read. Where files are *written* comes from this machine's
    config, never from the checkpoint: the cache folder, and for the generated corpus its root
    (the corpus folder under it is named by checked integers only). A treebank folder is only read.
    """
    if stored is None:
        raise CheckpointError(f"ckpt_path={ckpt_path}: the checkpoint does not record its data (written "
                              f"by an older version); name it: data=ud data.root=… or experiment=…")
    writes = {"cache_dir": local.cache_dir, "tokenizer_path": None}  # the checkpoint's tokenizer is used
    if stored.corpus == "default":
        writes["root"] = local.root
    dm = MaskedTokenDataModule(**{**dataclasses.asdict(stored), **writes})
    if stored.corpus == "ud" and not Path(stored.root).is_dir():
        raise DataError(f"ckpt_path={ckpt_path}: the treebank it was trained on, data.root={stored.root}, is "
                        f"gone; pass data=ud data.root=<that treebank> to evaluate there")
    return dm


def check_data_kind(ckpt_path: str, stored: DataSettings | None, data: DictConfig,
                    overrides: list[str]) -> None:
    """``data.root=…`` alone keeps the eval config's ``data=default``: a treebank run evaluated that way
    would read (and write) the generated corpus under the user's treebank folder. The run's data kind
    carries over unless the command line names one (``data=…`` or ``experiment=…``)."""
    keys = override_keys(overrides)
    if stored is None or "data" in keys or "experiment" in keys or stored.corpus == data.get("corpus"):
        return
    raise DataError(f"ckpt_path={ckpt_path}: the run trained on data={stored.corpus}, but the command "
                    f"line names data.* settings without data={stored.corpus}, which leaves "
                    f"data={data.get('corpus')}; add data={stored.corpus} (or name data=… to evaluate on "
                    f"another kind)")


DATA_SIZED = {"vocab_size", "max_len", "mask_id", "pad_id", "unk_id", "compile",  # set by the data,
              "num_classes", "class_names"}                                       # not the user


def contradicted_model_settings(command_line: dict, stored: dict) -> list[str]:
    """``model.KEY=command line (checkpoint: stored)`` for each model setting that differs."""
    return [f"model.{key}={value!r} (the checkpoint's: {stored[key]!r})"
            for key, value in command_line.items()
            if key in stored and key not in DATA_SIZED and value != stored[key]]


def check_model_overrides(cfg: DictConfig, stored: dict, overrides: list[str]) -> None:
    """A command line that names a model (``experiment=…``, ``model=…``, ``model.*=…``) must name
    the checkpoint's: eval always tests the model the checkpoint holds, never another."""
    if not any(k in ("experiment", "model") or k.startswith("model.") for k in override_keys(overrides)):
        return
    differ = contradicted_model_settings(plain(cfg.model), stored)
    if differ:
        raise ConfigError(f"ckpt_path={cfg.ckpt_path}: the command line describes another model than the "
                          f"checkpoint holds: {'; '.join(differ)}. Eval tests the checkpoint's own model: "
                          f"leave model settings (and experiments of another model) out; data settings "
                          f"(data=…, data.root=…) choose where to evaluate")


def record_evaluated_model(out: Path, stored: dict) -> None:
    """The eval folder's ``.hydra/config.yaml`` records the model that was evaluated (the checkpoint's)."""
    saved = out / ".hydra" / "config.yaml"
    if saved.is_file():
        config = OmegaConf.load(saved)
        config.model = {k: v for k, v in stored.items() if k != "compile"}
        atomic_write_text(saved, OmegaConf.to_yaml(config))


def evaluate(cfg: DictConfig) -> dict:
    """Test metrics of the checkpoint; printed, and written to ``<eval folder>/metrics.json``."""
    quiet_console()
    one_line_per_message()
    set_threads(cfg.get("threads", "auto"))
    L.seed_everything(cfg.seed, workers=True)
    if is_language_model_checkpoint(cfg.ckpt_path):  # a language model: its own held-out text
        return test_language_model(cfg.ckpt_path, Path(run_dir(cfg)), hydra.utils.instantiate(
            cfg.trainer, logger=False, enable_checkpointing=False))
    loaded = load_run(cfg.ckpt_path)
    module, settings = loaded.module, loaded.data
    stored_model = dict(module.hparams.model)
    check_model_overrides(cfg, stored_model, task_overrides())
    check_accelerator(cfg.trainer.get("accelerator"))
    out = Path(run_dir(cfg))
    record_evaluated_model(out, stored_model)
    chosen = names_data(task_overrides())
    if chosen:
        check_data_kind(cfg.ckpt_path, settings, cfg.data, task_overrides())
    dm = hydra.utils.instantiate(cfg.data) if chosen else run_datamodule(cfg.ckpt_path, settings, cfg.data)
    dm.tokenizer, dm.pieces = loaded.tokenizer, loaded.pieces  # ids must mean what they meant in training
    dm.setup()
    if stored_model.get("scores") == "pretrained":  # the rows its attention is fixed to, for this test split
        attach_pretrained_rows(dm, stored_model.get("pretrained_head"), stored_model.get("pretrained_path"),
                               splits=("test",))
    source = "as the command line says" if chosen else "the data the run trained on"
    print(f"evaluating {cfg.ckpt_path} on the test split of {dm.split_path('test')} ({source})")
    trainer = hydra.utils.instantiate(cfg.trainer, logger=False, enable_checkpointing=False)
    results = trainer.test(module, datamodule=dm)[0]
    record = {"ckpt_path": str(cfg.ckpt_path), "test_file": str(dm.split_path("test")), **results}
    atomic_write_text(out / "metrics.json", json.dumps(record, indent=1))
    print({k: round(v, 4) for k, v in results.items()})
    note = None if chosen else last_checkpoint_note(Path(cfg.ckpt_path), results)  # on the run's own data
    if note:
        print(note)
    print(f"wrote {out / 'metrics.json'}")
    return results


def last_checkpoint_note(ckpt: Path, results: dict) -> str | None:
    """Why ``last.ckpt``'s test accuracy can differ from the run's own (its best checkpoint's)."""
    kept = {p: re.search(r"acc(\d+\.\d+)", p.name) for p in ckpt.parent.glob("epoch*.ckpt")}
    scored = {p: float(m.group(1)) for p, m in kept.items() if m}
    metrics = ckpt.parent.parent / "metrics.json"
    if ckpt.name != "last.ckpt" or not scored or not metrics.is_file() or "test/acc" not in results:
        return None
    try:
        run_acc = json.loads(metrics.read_text()).get("test/acc")
    except (OSError, ValueError):
        return None
    if not isinstance(run_acc, float):
        return None
    best = max(scored, key=lambda p: scored[p])
    return (f"note: last.ckpt holds the final epoch's weights (test/acc {results['test/acc']:.4f}); the run "
            f"tested its best checkpoint by val/acc, {best.name} (test/acc {run_acc:.4f}): evaluate that "
            f"file for the run's own number")
