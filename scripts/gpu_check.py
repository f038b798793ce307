"""Train the single-head experiment for 2 epochs on a GPU, time it, then run the benchmark.

example: python scripts/gpu_check.py                      # on a machine with a CUDA GPU
         python scripts/gpu_check.py data.batch_size=512  # extra Hydra overrides for the run
"""

import subprocess
import sys
import time
from pathlib import Path

import torch

LOG_DIR = Path("logs/gpu_check")


def main() -> int:
    if "--help" in sys.argv or "-h" in sys.argv:
        print(__doc__)
        return 0
    if not torch.cuda.is_available():
        print("gpu_check: no CUDA GPU visible to torch", file=sys.stderr)
        return 1
    print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
    start = time.perf_counter()
    scripts = Path(__file__).parent
    subprocess.run([sys.executable, str(scripts / "train.py"), "experiment=single_head", "trainer=gpu",
                    "trainer.max_epochs=2", "callbacks.progress_bar=null", f"paths.log_dir={LOG_DIR}",
                    *sys.argv[1:]], check=True)
    seconds = time.perf_counter() - start
    last = max(LOG_DIR.glob("runs/*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    steps = torch.load(last, weights_only=True, map_location="cpu")["global_step"]
    print(f"{steps} optimizer steps; whole run (imports, data, 2 epochs, test, report) {seconds:.1f} s")
    bench = [sys.executable, str(scripts / "bench.py"), "--device", "cuda", "--reps", "3"]
    return subprocess.run(bench).returncode


if __name__ == "__main__":
    sys.exit(main())
