"""`attn-train` from a checkout: python scripts/train.py --help (the code is attn_project/cli.py)."""

from attn_project.cli import train

if __name__ == "__main__":
    train()
