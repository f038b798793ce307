"""`attn-eval` from a checkout: python scripts/eval.py --help (the code is attn_project/commands/cli.py)."""

from attn_project.commands.cli import evaluate

if __name__ == "__main__":
    evaluate()
