"""Loading checkpoints safely: local files only, ``torch.load(weights_only=True)``, never code.

Every checkpoint a user hands over — to resume (``train.py``), to evaluate or to inspect —
goes through ``read_checkpoint`` first, and its hyperparameters are checked against its own
weights and tokenizer before any model is built from them.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from attn_project.data.pieces import piece_tokenizer_from_json
from attn_project.data.settings import MAX_TOKENS, DataSettings
from attn_project.data.tokenizer import tokenizer_from_json
from attn_project.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    from attn_project.training.module import MaskedTokenModule

URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # http://, s3://, file://, local://, …
HPARAM_KEYS = {"model", "optimizer", "scheduler", "compile"}
EMBEDDING = "model.embed.token.weight"


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's dict, loaded with ``weights_only=True`` (plain types and tensors only)."""
    if URL.match(str(path)):
        raise CheckpointError(f"ckpt_path={path}: URLs are refused (a remote checkpoint could run "
                              f"code as it loads); download it, and pass the local file")
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ckpt_path={path}: no such file. Checkpoints are written to "
                              f"<run folder>/checkpoints/ (e.g. last.ckpt).")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"ckpt_path={path}: refused to load — the file holds Python objects other than plain "
            f"data and tensors, and loading it could run code from it ({str(err).splitlines()[0]}). "
            f"Only load checkpoints written by this project.") from err
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as err:
        raise CheckpointError(f"ckpt_path={path}: unreadable or truncated checkpoint "
                              f"({type(err).__name__}: {err}); use another one, e.g. last.ckpt "
                              f"or the best epoch*.ckpt of the run.") from err
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"ckpt_path={path}: not an attn_project checkpoint (not a dict)")
    return checkpoint


def checked_contents(path: str | Path) -> tuple[dict, dict, torch.Tensor]:
    """(checkpoint, hyperparameters, token embedding), after checking that the checkpoint is
    ours and that its hyperparameters are plain and fit its weights."""
    checkpoint = read_checkpoint(path)
    for key in ("hyper_parameters", "state_dict", "tokenizer_json"):
        if key not in checkpoint:
            raise CheckpointError(f"ckpt_path={path}: not an attn_project checkpoint (no '{key}')")
    hparams, state = checkpoint["hyper_parameters"], checkpoint["state_dict"]
    if not isinstance(hparams, dict) or not isinstance(hparams.get("model"), dict):
        raise CheckpointError(f"ckpt_path={path}: hyper_parameters must be a dict with a 'model' dict")
    unknown = set(hparams) - HPARAM_KEYS
    if unknown:
        raise CheckpointError(f"ckpt_path={path}: unknown hyperparameter(s) {sorted(unknown)}; "
                              f"expected {sorted(HPARAM_KEYS)}")
    embedding = state.get(EMBEDDING) if isinstance(state, dict) else None
    if not isinstance(embedding, torch.Tensor) or embedding.dim() != 2:
        raise CheckpointError(f"ckpt_path={path}: state_dict has no 2-d '{EMBEDDING}'")
    model = hparams["model"]
    max_len = model.get("max_len")
    if type(max_len) is not int or not 1 <= max_len <= MAX_TOKENS:  # sizes the position table
        raise CheckpointError(f"ckpt_path={path}: hyperparameter model.max_len={max_len!r} must be a "
                              f"number of tokens in [1, {MAX_TOKENS}]; the checkpoint was altered")
    for key, size in (("vocab_size", embedding.size(0)), ("d_model", embedding.size(1))):
        value = model.get(key)
        if type(value) is not int or value != size:  # checked before a model of that size is built
            raise CheckpointError(f"ckpt_path={path}: hyperparameter model.{key}={value!r} does not "
                                  f"match the weights ({size}); the checkpoint was altered")
    return checkpoint, hparams, embedding


@dataclass
class LoadedRun:
    """What a checkpoint holds: the module (eval mode), its word tokenizer, its piece vocabulary
    (``data.tokenizer=pieces``, else None) and the checked settings of the data it was trained on
    (None in checkpoints written before they were kept)."""

    module: MaskedTokenModule
    tokenizer: PreTrainedTokenizerFast
    pieces: Tokenizer | None
    data: DataSettings | None

    @property
    def max_pieces(self) -> int:
        return self.data.max_pieces if self.data is not None else DataSettings.max_pieces


def load_run(path: str | Path) -> LoadedRun:
    """The module, tokenizers and data settings of one of our checkpoints (``LoadedRun``).

    Only the model's settings build anything; the stored optimizer and scheduler configs (which
    name classes by ``_target_``) are dropped, so nothing a checkpoint names is ever instantiated.
    """
    from attn_project.training.module import MaskedTokenModule

    checkpoint, hparams, embedding = checked_contents(path)
    data = stored_data_settings(path, checkpoint.get("datamodule_hyper_parameters"))
    tokenizer = read_tokenizer(path, checkpoint["tokenizer_json"])
    if embedding.size(0) != len(tokenizer):
        raise CheckpointError(f"ckpt_path={path}: the model has {embedding.size(0)} token embeddings "
                              f"but its tokenizer has {len(tokenizer)} entries; the checkpoint and "
                              f"tokenizer come from different runs.")
    try:
        module = MaskedTokenModule(model=hparams["model"], optimizer=None, scheduler=None, compile=False)
    except (TypeError, ValueError) as err:
        raise CheckpointError(f"ckpt_path={path}: its model hyperparameters cannot build a model: "
                              f"{err}") from err
    check_fits(path, module, checkpoint["state_dict"])
    module.load_state_dict(checkpoint["state_dict"])
    return LoadedRun(module.eval(), tokenizer, read_pieces(path, checkpoint.get("pieces_json"), module), data)


def read_pieces(path: str | Path, text: object, module: MaskedTokenModule) -> Tokenizer | None:
    """The checkpoint's piece vocabulary, checked against the model's piece embedding."""
    expected = module.model.config.piece_vocab_size
    if text is None and not expected:
        return None
    if not isinstance(text, str):
        raise CheckpointError(f"ckpt_path={path}: the model has {expected} piece embeddings but no "
                              f"'pieces_json' text; the checkpoint was altered")
    try:
        pieces = piece_tokenizer_from_json(text)
    except Exception as err:  # the tokenizers library raises Exception for malformed JSON
        raise CheckpointError(f"ckpt_path={path}: its stored piece vocabulary is malformed "
                              f"({type(err).__name__}: {err})") from err
    if pieces.get_vocab_size() != expected:
        raise CheckpointError(f"ckpt_path={path}: the model has {expected} piece embeddings but its piece "
                              f"vocabulary has {pieces.get_vocab_size()}; they come from different runs")
    return pieces


def stored_data_settings(path: str | Path, data: object) -> DataSettings | None:
    """The checkpoint's data settings, checked by the same rules as the config's (``DataSettings``)."""
    if data is None:
        return None
    if not (isinstance(data, dict) and all(isinstance(k, str) for k in data)):
        raise CheckpointError(f"ckpt_path={path}: 'datamodule_hyper_parameters' is not a dict of settings")
    try:
        return DataSettings.checked(data)
    except ConfigError as err:
        raise CheckpointError(f"ckpt_path={path}: its stored data setting {err}; the checkpoint was "
                              f"altered or comes from another program") from err


def read_tokenizer(path: str | Path, text: object) -> PreTrainedTokenizerFast:
    if not isinstance(text, str):
        raise CheckpointError(f"ckpt_path={path}: 'tokenizer_json' is not text")
    try:
        return tokenizer_from_json(text)
    except Exception as err:  # the tokenizers library raises Exception for malformed JSON
        raise CheckpointError(f"ckpt_path={path}: its stored tokenizer is malformed "
                              f"({type(err).__name__}: {err})") from err


def check_fits(path: str | Path, module: torch.nn.Module, state_dict: dict) -> None:
    """The weights have exactly the names and shapes of ``module``'s (no traceback from load)."""
    if not isinstance(state_dict, dict):
        raise CheckpointError(f"ckpt_path={path}: 'state_dict' is not a dict")
    expected = module.state_dict()
    missing, unexpected = sorted(set(expected) - set(state_dict)), sorted(set(state_dict) - set(expected))
    wrong = [f"{k} {tuple(getattr(state_dict[k], 'shape', ()))} vs {tuple(v.shape)}"
             for k, v in expected.items()
             if k in state_dict and getattr(state_dict[k], "shape", None) != v.shape]
    if missing or unexpected or wrong:
        raise CheckpointError(f"ckpt_path={path}: the weights do not fit the model its hyperparameters "
                              f"describe (missing {missing[:3]}, unexpected {unexpected[:3]}, "
                              f"wrong shape {wrong[:3]}); resume or load with the run's own config")
