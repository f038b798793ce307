"""`attn-fetch-ud` from a checkout: python scripts/fetch_ud.py --help (the code is attn_project/cli.py)."""

from attn_project.cli import fetch_ud

if __name__ == "__main__":
    fetch_ud()
