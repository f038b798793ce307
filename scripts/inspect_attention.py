"""Inspect a trained model on any sentence (a Hydra app; --help shows an example):
python scripts/inspect_attention.py ckpt_path=RUN/checkpoints/last.ckpt text="The old man the boats ."
  [file=sentences.txt] [out=FOLDER]"""

import hydra
from omegaconf import DictConfig

from attn_project.analysis.sentence_view import inspect_sentences
from attn_project.errors import exit_on_user_error


@hydra.main(version_base="1.3", config_path="../conf", config_name="inspect")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        inspect_sentences(cfg.ckpt_path, cfg.text, cfg.file, cfg.out)


if __name__ == "__main__":
    main()
