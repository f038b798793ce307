"""Test a saved checkpoint: python scripts/eval.py ckpt_path=RUN/checkpoints/last.ckpt [experiment=NAME]"""

import hydra
from omegaconf import DictConfig

from attn_project import run_names  # noqa: F401  (the run-folder resolvers)
from attn_project.errors import exit_on_user_error
from attn_project.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="../conf", config_name="eval")
def main(cfg: DictConfig) -> None:
    with exit_on_user_error():
        evaluate(cfg)


if __name__ == "__main__":
    main()
