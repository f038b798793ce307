"""Where runs go: the project root, and run-folder names that tell runs apart — the
experiment's name, and in a sweep the overrides that differ between its jobs
(``logs/multiruns/single_head/<date_time>/2_seed=3``; over experiments
``0_single_head_seed=1``: what differs comes first and short, so TensorBoard's run list can tell
the jobs apart at its default width).

Hydra resolves the folder names in each job's process (a joblib worker too), where the sweep's
command line is gone; the parent process notes the swept keys in an environment variable
(``remember_sweep``), which workers inherit. Optuna's searched parameters come from the job's
own config (``hydra.sweeper.params``).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from hydra.core.hydra_config import HydraConfig

from attn_project.run.configs import repository
from attn_project.run.override_keys import parsed_overrides

NO_EXPERIMENT = "custom"  # the experiment's name when none was chosen
SWEPT = "ATTN_PROJECT_SWEPT"  # environment variable: {key: value as typed} of the sweep overrides
MAX_NAME = 120
UNSAFE = re.compile(r"[^\w.=,+\-]")


def swept_overrides(args: list[str]) -> dict[str, str]:
    """{key: value text} of the command-line overrides that sweep (``seed=1,2,3``, ``range(…)``)."""
    return {o.get_key_element().lstrip("+~"): (o.input_line or "").split("=", 1)[1]
            for o in parsed_overrides(args) if o.is_sweep_override()}


def remember_sweep(args: list[str]) -> None:
    """Note the swept keys for the jobs (called by ``attn-train``/scripts/train.py before Hydra starts)."""
    os.environ[SWEPT] = json.dumps(swept_overrides(args))


def experiment_folder(choice: str | None, task: str | None = None, layers: object = None,
                      objective: str | None = None) -> str:
    """The experiment's name; for a sweep over experiments their names joined by '+'; a task
    other than the default is added (``single_head-upos``) unless the sweep varies it, and so is
    a deeper classifier's depth (``multi_head-2layers``; a language model's size is its ``model=``)."""
    swept = json.loads(os.environ.get(SWEPT) or "{}")
    name = swept["experiment"].replace(",", "+") if "experiment" in swept else (choice or NO_EXPERIMENT)
    if task and task != "content_function" and "task" not in swept:
        name = f"{name}-{task}"
    deeper = objective is None and str(layers).isdigit() and int(str(layers)) > 1
    if deeper and "model.num_layers" not in swept:
        name = f"{name}-{layers}layers"
    return safe(name)


def job_folder(num, overrides, sweeper_params=None) -> str:
    """``<job number>_<the job's values of the swept keys>``, e.g. ``2_seed=3``: an experiment or
    task by its name alone (``0_single_head_seed=1``), a dotted key by its last part where that
    is unambiguous (``model.num_heads=4`` → ``num_heads=4``)."""
    keys = set(json.loads(os.environ.get(SWEPT) or "{}")) | set(sweeper_params or {})
    swept = [o.lstrip("+~").split("=", 1) for o in overrides if o.split("=", 1)[0].lstrip("+~") in keys]
    last_parts = [key.rsplit(".", 1)[-1] for key, _ in swept]
    parts = [value if key in ("experiment", "task") else
             f"{short if last_parts.count(short) == 1 else key}={value}"
             for (key, value), short in zip(swept, last_parts, strict=True)]
    return safe("_".join([str(num), *parts]))[:MAX_NAME]


def safe(name: str) -> str:
    """A folder name: path separators and other odd characters become '-'."""
    return UNSAFE.sub("-", str(name))


def eval_folder(ckpt_path: object, log_dir: str) -> str:
    """Where ``eval.py`` writes: ``<run>/eval`` for a checkpoint in a run's ``checkpoints/``, else
    ``eval/`` beside the checkpoint; ``<log_dir>/eval`` when that folder cannot be written (a
    checkpoint handed over read-only) or the path is no local file (refused later, with a message)."""
    ckpt = Path(str(ckpt_path))
    folder = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    if "://" in str(ckpt_path) or not ckpt.is_file() or not os.access(folder, os.W_OK):
        return str(Path(log_dir) / "eval")
    return str(folder / "eval")


def project_root() -> str:
    """The repository's folder when the package runs from one (editable install or checkout),
    else the current folder: logs/ and data/ do not follow the user's ``cd``."""
    return str(repository() or Path.cwd())


def experiment_name(choice: str | None = None) -> str:
    """The experiment's name, the one source for run folders, HPARAMS, the report and W&B: Hydra's
    choice for the ``experiment`` group (``choice``, or the running job's), ``custom`` without one."""
    if choice is None and HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("experiment")
    return choice or NO_EXPERIMENT
