"""A Hydra callback that ends a sweep with the list of its jobs that did not finish."""

from __future__ import annotations

from pathlib import Path

from hydra.experimental.callback import Callback


def unfinished_jobs(sweep_dir: Path) -> tuple[list[Path], list[Path]]:
    """(all job folders, those without the metrics.json a finished run writes)."""
    jobs = sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()) if sweep_dir.is_dir() else []
    return jobs, [job for job in jobs if not (job / "metrics.json").is_file()]


class SweepSummary(Callback):
    """Prints how many jobs of the sweep finished, names those that failed, and how to compare them."""

    def on_multirun_end(self, config, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        jobs, failed = unfinished_jobs(sweep_dir)
        print(f"\nsweep: {len(jobs) - len(failed)} of {len(jobs)} jobs finished in {sweep_dir}")
        for job in failed:
            print(f"  failed: {job.name} (see {job / 'train.log'})")
        print(f"compare them: python scripts/study.py {sweep_dir}")
