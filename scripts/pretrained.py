"""`attn-pretrained` from a checkout: python scripts/pretrained.py --help (code: attn_project/cli.py)."""

from attn_project.cli import pretrained

if __name__ == "__main__":
    pretrained()
