"""`attn-train` from a checkout: python scripts/train.py --help (the code is attn_project/commands/cli.py)."""

from attn_project.commands.cli import train

if __name__ == "__main__":
    train()
