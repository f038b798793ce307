"""`attn-fetch-text` from a checkout: python scripts/fetch_text.py --help (attn_project/commands/cli.py)."""

from attn_project.commands.cli import fetch_text

if __name__ == "__main__":
    fetch_text()
