"""`attn-explain` from a checkout: python scripts/explain.py --help (the code is attn_project/cli.py)."""

from attn_project.cli import explain

if __name__ == "__main__":
    explain()
