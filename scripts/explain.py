"""`attn-explain` from a checkout: python scripts/explain.py --help (attn_project/commands/cli.py)."""

from attn_project.commands.cli import explain

if __name__ == "__main__":
    explain()
