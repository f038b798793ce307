"""`attn-study` from a checkout: python scripts/study.py --help (the code is attn_project/commands/cli.py)."""

from attn_project.commands.cli import study

if __name__ == "__main__":
    study()
