"""The bottom-up guide with random weights: python scripts/explain.py --out DIR"""

import argparse

from attn_project.guide import Guide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default="explain_out", help="folder for the PNG figures")
    parser.add_argument("--d-model", type=int, default=16)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    written = Guide(args.out, d_model=args.d_model, num_heads=args.heads, seed=args.seed).run()
    print(f"\n{len(written)} figures in {args.out}:")
    for path in written:
        print(f"  {path}")


if __name__ == "__main__":
    main()
