#!/usr/bin/env bash
# Train the single-head experiment for a few hundred steps on a GPU and print throughput.
# Usage: bash scripts/gpu_check.sh [extra Hydra overrides]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY - <<'PY'
import torch
assert torch.cuda.is_available(), "no CUDA GPU visible to torch"
print("GPU:", torch.cuda.get_device_name(0), "| torch", torch.__version__)
PY
start=$(date +%s.%N)
$PY scripts/train.py experiment=single_head trainer=gpu trainer.max_epochs=2 \
  callbacks.progress_bar=null paths.log_dir=logs/gpu_check "$@" 2>&1 | tee /tmp/gpu_check.log | grep -E "test/acc|run folder"
end=$(date +%s.%N)
steps=$($PY - <<'PY'
import glob, torch
ckpt = sorted(glob.glob("logs/gpu_check/runs/*/checkpoints/last.ckpt"))[-1]
print(torch.load(ckpt, weights_only=True, map_location="cpu")["global_step"])
PY
)
$PY - "$start" "$end" "$steps" <<'PY'
import sys
start, end, steps = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
print(f"{steps} optimizer steps; whole run (imports, data, 2 epochs, test, report) {end - start:.1f} s")
PY
$PY scripts/bench.py --device cuda --reps 3
