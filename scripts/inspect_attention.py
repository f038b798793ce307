"""`attn-inspect` from a checkout: python scripts/inspect_attention.py --help
(the code is in attn_project/cli.py)."""

from attn_project.cli import inspect

if __name__ == "__main__":
    inspect()
