"""Benchmark training speed; prints one JSON object on stdout and a readable table on stderr.

example: python scripts/bench.py
         python scripts/bench.py --data-root ../shared/data/ud_english_ewt --device cuda --reps 3
See attn_project/bench.py for what each key measures."""

import argparse
import json
import logging
import sys
import warnings

from attn_project.bench import run_benchmarks
from attn_project.errors import exit_on_user_error


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", help="a UD treebank folder (default: the generated corpus)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reps", type=positive_int, default=5, help="A/B repetitions after the warm-up")
    parser.add_argument("--train-sentences", type=positive_int, help="use only the first N train sentences")
    parser.add_argument("--batch-size", type=positive_int,
                        help="sentences per batch (default: data.batch_size)")
    args = parser.parse_args()
    logging.getLogger("lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    with exit_on_user_error():
        result = run_benchmarks(args.data_root, args.device, args.reps, args.train_sentences,
                                log=lambda line: print(line, file=sys.stderr), batch_size=args.batch_size)
    width = max(map(len, result))
    for key, value in result.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:>{width}}  {shown}", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
