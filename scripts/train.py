"""Train: python scripts/train.py experiment=single_head [overrides]  (Hydra; -m for sweeps)"""

import sys

import hydra
from omegaconf import DictConfig

from attn_project.errors import exit_on_user_error
from attn_project.run_names import remember_sweep
from attn_project.train import in_sweep, job_description, train


@hydra.main(version_base="1.3", config_path="../conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    with exit_on_user_error(in_sweep=in_sweep(), job=job_description()):
        value, _ = train(cfg)
    return value


if __name__ == "__main__":
    remember_sweep(sys.argv[1:])
    main()
