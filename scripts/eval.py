"""`attn-eval` from a checkout: python scripts/eval.py --help (the code is attn_project/cli.py)."""

from attn_project.cli import evaluate

if __name__ == "__main__":
    evaluate()
