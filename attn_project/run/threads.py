"""How many CPU threads torch uses in this process, chosen (``threads: auto``) rather than inherited.

The model is small: a training step is a few 64-wide matmuls and element-wise ops on [B, T, T]
tensors, too little work to split across threads. Measured on 2 cores (README, Performance):
one thread is faster than two even on a quiet machine, and two threads that share their cores
with any other CPU job spin in OpenMP barriers and run 10–20× slower. So ``auto`` gives each
job one thread and leaves parallelism to running jobs side by side (``hydra/launcher=parallel``).

The order of precedence: an explicit ``threads: N``; else ``OMP_NUM_THREADS`` from the
environment; else ``auto``: ``min(AUTO_PER_JOB, cores this process may use ÷ jobs running at
once)``, at least 1.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from attn_project.errors import ConfigError

log = logging.getLogger(__name__)
AUTO_PER_JOB = 1  # measured: README, Performance ("threads")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and taskset narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows: no affinity call
        return os.cpu_count() or 1


def choose_threads(setting: object, cores: int, jobs: int, env: Mapping[str, str]) -> tuple[int, str]:
    """(threads, why) for a ``threads`` setting of ``auto`` or a positive integer."""
    if setting != "auto":
        if type(setting) is not int or setting < 1:
            raise ConfigError(f"threads={setting!r}: give a positive number of threads, or 'auto'")
        return setting, "threads setting"
    omp = env.get("OMP_NUM_THREADS", "").strip()
    if omp:
        if not omp.isdigit() or int(omp) < 1:
            raise ConfigError(f"OMP_NUM_THREADS={omp!r}: give a positive number of threads, or unset it")
        return int(omp), "OMP_NUM_THREADS"
    return max(1, min(AUTO_PER_JOB, cores // max(1, jobs))), f"auto: {cores} cores, {jobs} job(s) at once"


def parallel_jobs() -> int:
    """How many jobs of this sweep run at once (the joblib launcher's ``n_jobs``; else 1)."""
    from hydra.core.hydra_config import HydraConfig

    try:
        launcher = HydraConfig.get().launcher
    except ValueError:  # not inside a Hydra app
        return 1
    n_jobs = launcher.get("n_jobs") if launcher is not None else None
    return n_jobs if type(n_jobs) is int and n_jobs > 0 else (usable_cores() if n_jobs == -1 else 1)


def set_threads(setting: object) -> int:
    """Set torch's intra-op threads for this process from ``setting`` and say so once."""
    import torch  # here, not at import: the config resolver below must stay light

    threads, why = choose_threads(setting, usable_cores(), parallel_jobs(), os.environ)
    if threads != torch.get_num_threads():
        torch.set_num_threads(threads)
    log.info("torch threads: %d (%s)", threads, why)
    return threads


def jobs_for_machine(threads_per_job: int = AUTO_PER_JOB) -> int:
    """Jobs to run side by side so that jobs × threads ≤ the usable cores (the parallel launcher's n_jobs)."""
    return max(1, usable_cores() // max(1, threads_per_job))
