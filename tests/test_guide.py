"""The bottom-up guide runs end to end and writes its figures."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_explain_writes_every_step(tmp_path):
    result = subprocess.run([sys.executable, "scripts/explain.py", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    for step in ("tokenization", "embeddings", "scores", "scaled_scores", "softmax_weights",
                 "single_head", "multi_head", "initialisations", "mask_rows"):
        assert any(step in name for name in pngs), f"missing figure for {step}: {pngs}"
    for name in pngs:
        assert name in result.stdout  # every figure is listed
        assert (tmp_path / name).stat().st_size > 5000  # a real picture, not an empty file
    assert "Step 8" in result.stdout
