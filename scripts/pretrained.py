"""`attn-pretrained` from a checkout: python scripts/pretrained.py --help (attn_project/commands/cli.py)."""

from attn_project.commands.cli import pretrained

if __name__ == "__main__":
    pretrained()
