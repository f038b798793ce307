"""`attn-bench` from a checkout: python scripts/bench.py --help (the code is attn_project/commands/cli.py)."""

from attn_project.commands.cli import bench

if __name__ == "__main__":
    bench()
