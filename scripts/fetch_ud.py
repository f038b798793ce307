"""`attn-fetch-ud` from a checkout: python scripts/fetch_ud.py --help (attn_project/commands/cli.py)."""

from attn_project.commands.cli import fetch_ud

if __name__ == "__main__":
    fetch_ud()
