"""Where the Hydra configs live, and composed configs as plain Python."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

PACKAGE = Path(__file__).resolve().parent.parent  # attn_project/ (this file is attn_project/run/configs.py)


def repository() -> Path | None:
    """The repository's folder when the package runs from a checkout (or an editable install),
    None when it is installed (a wheel)."""
    root = PACKAGE.parent
    return root if (root / "pyproject.toml").is_file() and (root / "conf" / "train.yaml").is_file() else None


def config_dir() -> str:
    """The Hydra configs: the repository's ``conf/`` in a checkout, else the copy shipped inside
    the installed package (``attn_project/conf``)."""
    root = repository()
    folder = root / "conf" if root else PACKAGE / "conf"
    if not (folder / "train.yaml").is_file():
        raise FileNotFoundError(f"no conf/train.yaml beside or inside {PACKAGE}: reinstall the package")
    return str(folder)


CONFIGS = config_dir()


def plain(cfg: DictConfig) -> dict[str, Any]:
    """A config section as plain, resolved Python: ``OmegaConf.to_container`` typed as the dict
    a section is."""
    container = OmegaConf.to_container(cfg, resolve=True)
    if not isinstance(container, dict):
        raise TypeError(f"expected a config section, got {type(container).__name__}")
    return {str(k): v for k, v in container.items()}
