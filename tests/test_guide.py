"""The bottom-up guide runs end to end, writes its figures, and prints the numbers the README quotes."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
STEPS = ("tokenization", "embeddings", "scores", "scaled_scores", "softmax_weights", "single_head",
         "multi_head", "initialisations", "mask_rows", "language_model")


def explain(out, *args):
    result = subprocess.run([sys.executable, "scripts/explain.py", "--out", str(out), *args],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.slow  # trains a model or runs a command end to end
def test_explain_writes_every_step_and_the_numbers_the_readme_quotes(tmp_path):
    stdout = explain(tmp_path)
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == [f"{n:02d}_{step}.png" for n, step in enumerate(STEPS, start=1)]
    for name in pngs:
        assert name in stdout  # every figure is listed
        assert (tmp_path / name).stat().st_size > 5000  # a real picture, not an empty file
    normal = re.search(r"unscaled N\(0,1\) +mean entropy/log T = ([\d.]+), mean top weight = ([\d.]+)",
                       stdout)
    default = re.search(r"PyTorch default nn.Linear +mean entropy/log T = ([\d.]+)", stdout)
    gap = re.search(r"largest difference from \d+ separate masked passes: (\S+)", stdout)
    readme = (ROOT / "docs" / "guide.md").read_text()  # the guide's page quotes these numbers
    assert "Step 8 — what 'random weights' means. At d=64" in stdout
    assert (f"at d=64 the mean normalised entropy of a row is **{normal[1]}**" in readme
            and f"mean top weight **{normal[2]}**" in readme and f"entropy is **{default[1]}**" in readme)
    assert float(gap[1]) < 1e-6 and f"separate passes: {gap[1]})" in readme
    # step 10: the real model's pieces and the head that finds the hand parse's heads
    pieces = re.search(r"\[CLS\] the old man saw the boats on the river \. \[SEP\]", stdout)
    head = re.search(r"Shown: (L\dH\d+), the head whose rows most often point", stdout)
    assert pieces and head and f"step 10 shows {head[1]}" in readme


@pytest.mark.slow  # trains a model or runs a command end to end
def test_a_two_word_sentence_and_another_width_work(tmp_path):
    stdout = explain(tmp_path, "--sentence", "dogs bark", "--d-model", "16", "--heads", "2",
                     "--format", "pdf")
    pngs = sorted(p.stem for p in tmp_path.glob("*.png"))
    assert len(pngs) == 10 and sorted(p.stem for p in tmp_path.glob("*.pdf")) == pngs  # --format pdf
    assert len(list(tmp_path.glob("*.png"))) == 10
    assert "At d=16" in stdout and "2 heads of 8 dimensions" in stdout
    assert "Shown: L2H8, the best head for most relations on EWT dev" in stdout  # no hand parse here


@pytest.mark.slow  # trains a model or runs a command end to end
def test_every_entry_script_has_a_help_with_an_example(capsys):
    for script, example in (("explain", "example: attn-explain"), ("fetch_ud", "example: attn-fetch-ud"),
                            ("bench", "example: attn-bench"), ("study", "example: attn-train -m"),
                            ("gpu_check", "example: python scripts/gpu_check.py"),
                            ("inspect_attention", "example: python scripts/inspect_attention.py"),
                            ("pretrained", "example: python scripts/pretrained.py"),
                            ("train", "example: python scripts/train.py experiment=single_head"),
                            ("eval", "example: python scripts/eval.py ckpt_path="),
                            ("fetch_text", "example: attn-fetch-text")):
        code, output = run_cli(script, ["--help"], capsys)  # each script as the command line runs it
        assert code in (0, None) and example in output, (script, output[-500:])
