"""The bottom-up guide with random weights, nine steps, a narration and a PNG each.

example: python scripts/explain.py --out explain_out
         python scripts/explain.py --d-model 16 --heads 2 --sentence "dogs bark ." --out tiny
"""

import argparse

from attn_project.guide import EXAMPLES, run_guide


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="explain_out", help="folder for the PNG figures")
    parser.add_argument("--d-model", type=int, default=64, help="embedding and head width (64: the model's)")
    parser.add_argument("--heads", type=int, default=4, help="heads in step 7")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentence", action="append", help="a sentence to use (repeat for more); the "
                        "first is drawn. Default: three example sentences")
    args = parser.parse_args()
    written = run_guide(args.out, args.sentence or EXAMPLES, d_model=args.d_model, num_heads=args.heads,
                        seed=args.seed)
    print(f"\n{len(written)} figures in {args.out}:")
    for path in written:
        print(f"  {path}")


if __name__ == "__main__":
    main()
