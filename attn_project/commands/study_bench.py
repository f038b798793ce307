"""``attn-bench --study``: a small study run the README way (experiments × seeds), once per launcher.

Each launcher runs the same sweep as a child ``attn-train -m`` process: the wall time, runs per
hour, jobs at once and the torch threads each job chose (read from its ``train.log``), and each
experiment's mean test accuracy (``study.py``'s aggregation), so the speed-up and the unchanged
accuracy are read from one command.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from attn_project.errors import UserError
from attn_project.run.threads import jobs_for_machine
from attn_project.study.aggregate import run_study

LAUNCHERS = {"basic": 1, "parallel": None}  # jobs at once (None: from the machine)
THREADS_LINE = re.compile(r"torch threads: (\d+)")
TRAIN = "from attn_project.commands.cli import train; train()"


def sweep_command(experiments: Sequence[str], seeds: Sequence[int], launcher: str, sweep_dir: Path,
                  overrides: Sequence[str]) -> list[str]:
    """``attn-train -m`` for experiments × seeds with ``launcher``, into ``sweep_dir``."""
    return [sys.executable, "-c", TRAIN, "-m", f"experiment={','.join(experiments)}",
            f"seed={','.join(map(str, seeds))}", f"hydra/launcher={launcher}",
            f"hydra.sweep.dir={sweep_dir}", *overrides]


def run_sweep(command: list[str], log: Callable[[str], None]) -> float:
    """Run one sweep to its end; its wall time in seconds (a failed sweep is an error)."""
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise UserError(f"the study sweep failed ({' '.join(command[3:])}):\n{result.stderr[-2000:]}")
    for line in job_lines(result.stdout):
        log(line)
    return wall


def job_lines(output: str) -> list[str]:
    """Each job's "job #N … finished" line, also where parallel workers' writes left it behind
    other text on the same line."""
    return [part.split("\n", 1)[0].rstrip() for part in re.split(r"(?=job #\d+ )", output)
            if part.startswith("job #")]


def threads_used(sweep_dir: Path) -> list[int]:
    """The torch threads each job chose, as its train.log says."""
    found = [THREADS_LINE.search(p.read_text(encoding="utf-8", errors="replace"))
             for p in sorted(sweep_dir.glob("*/train.log"))]
    return [int(match[1]) for match in found if match]


def launcher_figures(sweep_dir: Path, launcher: str, wall: float) -> dict:
    study = run_study([sweep_dir], group_by=["experiment"])
    runs = sum(g["n_runs"] for g in study["groups"])
    return {
        "wall_s": round(wall, 1), "runs": runs, "runs_per_hour": round(3600 * runs / wall, 1),
        "wall_per_run_s": round(wall / max(1, runs), 1),
        "jobs": LAUNCHERS[launcher] or jobs_for_machine(), "threads": sorted(set(threads_used(sweep_dir))),
        "test_acc": {g["key"]["experiment"]: g["metrics"]["test/acc"]["mean"] for g in study["groups"]},
        "skipped": len(study["skipped"]),
    }


def run_study_benchmark(experiments: Sequence[str], seeds: Sequence[int], overrides: Sequence[str] = (),
                        launchers: Sequence[str] = tuple(LAUNCHERS), out: Path | None = None,
                        log: Callable[[str], None] = print) -> dict:
    """{launcher: figures} for the same sweep under each launcher, and the speed-up."""
    unknown = sorted(set(launchers) - set(LAUNCHERS))
    if unknown:
        raise UserError(f"--launchers {','.join(unknown)}: choose from {', '.join(LAUNCHERS)}")
    root = Path(out or tempfile.mkdtemp(prefix="attn_study_bench_"))
    result: dict = {"experiments": list(experiments), "seeds": list(seeds), "overrides": list(overrides)}
    for launcher in launchers:
        sweep_dir = root / launcher
        log(f"{launcher}: {len(experiments)} experiment(s) × {len(seeds)} seed(s) → {sweep_dir}")
        wall = run_sweep(sweep_command(experiments, seeds, launcher, sweep_dir, overrides), log)
        result[launcher] = launcher_figures(sweep_dir, launcher, wall)
        log(f"{launcher}: {wall:.0f} s, {result[launcher]['runs_per_hour']} runs per hour")
    if all(name in result for name in LAUNCHERS):
        result["speedup"] = round(result["basic"]["wall_s"] / result["parallel"]["wall_s"], 2)
    return result
