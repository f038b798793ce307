"""Loading our checkpoints safely: ``torch.load(weights_only=True)``, never code from the file."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from attn_project.data.tokenizer import tokenizer_from_json
from attn_project.module import MaskedTokenModule


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, unsafe, or does not fit its tokenizer."""


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's dict, loaded with ``weights_only=True`` (plain types and tensors only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path}: no such file. Checkpoints are written to "
                              f"<run folder>/checkpoints/ (e.g. last.ckpt).")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"ckpt_path={path}: refused to load — the file holds Python objects other than plain "
            f"data and tensors, and loading it could run code from it ({str(err).splitlines()[0]}). "
            f"Only load checkpoints written by this project.") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError) as err:
        raise CheckpointError(f"ckpt_path={path}: unreadable or truncated checkpoint "
                              f"({type(err).__name__}: {err}); use another one, e.g. last.ckpt "
                              f"or the best epoch*.ckpt of the run.") from err


def load_module(path: str | Path):
    """(MaskedTokenModule in eval mode, its tokenizer) from one of our checkpoints."""
    checkpoint = read_checkpoint(path)
    for key in ("hyper_parameters", "state_dict", "tokenizer_json"):
        if key not in checkpoint:
            raise CheckpointError(f"ckpt_path={path}: not an attn_project checkpoint (no '{key}')")
    hparams = dict(checkpoint["hyper_parameters"])
    hparams["compile"] = False
    module = MaskedTokenModule(**hparams)
    tokenizer = tokenizer_from_json(checkpoint["tokenizer_json"])
    check_vocabulary(path, module, len(tokenizer))
    try:
        module.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as err:
        raise CheckpointError(f"ckpt_path={path}: weights do not fit the model in its "
                              f"hyperparameters: {err}") from err
    return module.eval(), tokenizer


def check_vocabulary(path, module: MaskedTokenModule, tokenizer_size: int) -> None:
    rows = module.classifier.embed.token.num_embeddings
    if rows != tokenizer_size:
        raise CheckpointError(f"ckpt_path={path}: the model has {rows} token embeddings but its "
                              f"tokenizer has {tokenizer_size} entries; the checkpoint and tokenizer "
                              f"come from different runs.")
