"""The config's own resolvers, registered by every command before Hydra composes a config (and by
Hydra's joblib workers, which import ``commands.cli`` to run a job)."""

from __future__ import annotations

from omegaconf import OmegaConf

from attn_project.data.tasks import selection_metric
from attn_project.run.run_names import (
    eval_folder,
    experiment_folder,
    experiment_name,
    job_folder,
    project_root,
)
from attn_project.run.threads import jobs_for_machine


def register_resolvers() -> None:
    """``${project_root:}``, the folder names, ``${experiment_name:}``, ``${parallel_jobs:}`` and
    ``${selection_metric:<task>}``."""
    for name, resolver in (("experiment_folder", experiment_folder), ("job_folder", job_folder),
                           ("project_root", project_root), ("parallel_jobs", jobs_for_machine),
                           ("eval_folder", eval_folder), ("experiment_name", experiment_name),
                           ("selection_metric", selection_metric)):
        OmegaConf.register_new_resolver(name, resolver, replace=True)
