"""`attn-inspect` from a checkout: python scripts/inspect_attention.py --help
(the code is in attn_project/commands/cli.py)."""

from attn_project.commands.cli import inspect

if __name__ == "__main__":
    inspect()
