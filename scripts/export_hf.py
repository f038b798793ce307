"""Export a causal language model trained here to a Hugging Face GPT-2 folder:
python scripts/export_hf.py ckpt_path=logs/runs/lm_causal/<date_time>/checkpoints/step_0003000.ckpt out=DIR"""

import sys

from attn_project.commands.train_lm import export
from attn_project.errors import UserError

if __name__ == "__main__":
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        raise SystemExit(0)
    given = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
    unknown = sorted(set(given) - {"ckpt_path", "out"}) + [a for a in sys.argv[1:] if "=" not in a]
    if unknown or not {"ckpt_path", "out"} <= set(given):
        raise SystemExit(f"error: give ckpt_path=… and out=… (not {unknown or 'less'}); see --help")
    try:
        for path in export(given["ckpt_path"], given["out"]):
            print(f"wrote {path}")
    except UserError as err:
        raise SystemExit(f"error: {err}") from None
