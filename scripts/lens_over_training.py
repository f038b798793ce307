"""`attn-lens-over-training` from a checkout: python scripts/lens_over_training.py --help
(the code is attn_project/commands/cli.py)."""

from attn_project.commands.cli import lens_over_training

if __name__ == "__main__":
    lens_over_training()
