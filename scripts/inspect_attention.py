"""Inspect a trained model on any sentence:
python scripts/inspect_attention.py ckpt_path=RUN/checkpoints/last.ckpt text="The old man the boats ."
  [file=sentences.txt] [out=FOLDER]
(default out: <run folder>/inspect, or inspect/ beside a checkpoint kept outside a run)"""

import sys
from pathlib import Path

from omegaconf import OmegaConf

from attn_project.analysis.sentence_view import (
    attend,
    default_output,
    print_predictions,
    read_sentences,
    write_views,
)
from attn_project.checkpoint import load_module
from attn_project.errors import ConfigError, exit_on_user_error


def main() -> None:
    args = OmegaConf.from_cli(sys.argv[1:])
    with exit_on_user_error():
        if not args.get("ckpt_path"):
            raise ConfigError("ckpt_path: required, e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt")
        sentences = read_sentences(args.get("text"), args.get("file"))
        module, tokenizer = load_module(args.ckpt_path)
        results = [attend(module, tokenizer, sentence) for sentence in sentences]
        for result in results:
            print_predictions(result)
        out = Path(args.get("out") or default_output(args.ckpt_path))
        for path in write_views(results, out):
            print(f"wrote {path}")


if __name__ == "__main__":
    main()
