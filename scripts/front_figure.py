"""The README's first figure: python scripts/front_figure.py --help (attn_project/commands/)."""

import argparse
from pathlib import Path

from attn_project.commands.front_figure import front_figure
from attn_project.errors import UserError

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split(":")[0])
    parser.add_argument("--ckpt", required=True, help="a trained run's checkpoint (its [MASK] rows)")
    parser.add_argument("--text", default="The chef who ran the kitchen cooked a meal for the guests .")
    parser.add_argument("--head", default="L2H0", help="a head of the bundled MiniLM (L2H0: obj on EWT)")
    parser.add_argument("--label", default="", help="the trained panel's title")
    parser.add_argument("--out", type=Path, default=Path("docs/front_figure.png"))
    args = parser.parse_args()
    try:
        print(f"wrote {front_figure(args.ckpt, args.text, args.head, args.out, args.label)}")
    except UserError as err:
        raise SystemExit(f"error: {err}") from None
