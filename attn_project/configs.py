"""Where the Hydra configs live, and composed configs as plain Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def config_dir() -> str:
    """The Hydra configs: the repository's ``conf/`` in a checkout (or editable install), else
    the copy shipped inside the installed package (``attn_project/conf``)."""
    package = Path(__file__).resolve().parent
    for folder in (package.parent / "conf", package / "conf"):
        if (folder / "train.yaml").is_file():
            return str(folder)
    raise FileNotFoundError(f"no conf/train.yaml beside or inside {package}: reinstall the package")


CONFIGS = config_dir()


def plain(cfg: DictConfig) -> dict[str, Any]:
    """A config section as plain, resolved Python: ``OmegaConf.to_container`` typed as the dict
    a section is."""
    container = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(container, dict):
        raise TypeError(f"expected a config section, got {type(container).__name__}")
    return {str(k): v for k, v in container.items()}
