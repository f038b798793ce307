"""Checks of a user's model folder that need no model built: every file a regular file, the config's
sizes within sane bounds and equal to what the weights' own safetensors headers say; and, once the
weights are loaded, that every tensor was found and is finite. Each refusal is one ``DataError``
naming the file and the key."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from attn_project.errors import DataError

BOUNDS = {"num_hidden_layers": (1, 256), "num_attention_heads": (1, 1024), "hidden_size": (1, 65_536),
          "max_position_embeddings": (1, 65_536), "vocab_size": (1, 10_000_000),
          "intermediate_size": (1, 1_000_000)}
LAYER = re.compile(r"(?:^|\.)layers?\.(\d+)\.")  # encoder.layer.3.… / transformer.layer.3.…
SHOWN = 3  # tensor names quoted in an error


def regular_file(path: Path) -> Path:
    """``path`` if it is a regular file (a named pipe or a device would hang or read forever)."""
    if path.exists() and not path.is_file():
        raise DataError(f"{path}: not a regular file (a pipe, device or folder is never read)")
    return path


def check_config_sizes(config: dict, config_path: Path, shapes: dict[str, list[int]]) -> None:
    """The config's sizes against sane bounds and against the weights' shapes, before anything is built."""
    for key, (low, high) in BOUNDS.items():
        value = config.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise DataError(f"{config_path}: {key}={value!r} is outside {low}..{high:,}")
    if config.get("is_decoder") or config.get("add_cross_attention"):
        raise DataError(f"{config_path}: is_decoder/add_cross_attention is set: this lens reads "
                        f"encoders, whose rows see both sides")
    hidden, heads = config.get("hidden_size"), config.get("num_attention_heads")
    if hidden and heads and hidden % heads:
        raise DataError(f"{config_path}: hidden_size={hidden} is not divisible by "
                        f"num_attention_heads={heads}")
    embedding = next((shape for name, shape in shapes.items() if name.endswith("word_embeddings.weight")),
                     None)
    vocab = config.get("vocab_size")
    if embedding is not None and vocab is not None and embedding[0] != vocab:
        raise DataError(f"{config_path}: vocab_size={vocab}, but the weights' word embedding has "
                        f"{embedding[0]} rows")
    for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = config.get(key)
        if value is not None and vocab is not None and not (isinstance(value, int) and 0 <= value < vocab):
            raise DataError(f"{config_path}: {key}={value!r} is not an id of the vocabulary (0..{vocab - 1})")
    layers = {int(m.group(1)) for name in shapes if (m := LAYER.search(name))}
    declared = config.get("num_hidden_layers")
    if layers and declared is not None and config.get("model_type") != "albert" and len(layers) != declared:
        raise DataError(f"{config_path}: num_hidden_layers={declared}, but the weights hold "
                        f"{len(layers)} layers")


def check_tokenizer_ids(tokenizer, vocab_size: int, path: Path) -> None:  # tokenizers.Tokenizer
    """Every id the tokenizer can produce is a row of the model's embedding."""
    size = tokenizer.get_vocab_size(with_added_tokens=True)
    if size > vocab_size:
        raise DataError(f"{path}: the tokenizer has {size} ids, more than the model's "
                        f"vocab_size={vocab_size} (its larger ids have no embedding)")


def check_loaded_weights(model: torch.nn.Module, info: dict, folder: Path) -> None:
    """Every tensor the config needs was in the weights (none left at random initialisation), none was
    left over, and all are finite."""
    for kind in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        names = sorted(map(str, info.get(kind) or []))
        if names:
            more = f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
            raise DataError(f"{folder}: the weights do not match config.json "
                            f"({kind.replace('_', ' ')}: {', '.join(names[:SHOWN])}{more})")
    for name, tensor in model.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise DataError(f"{folder}: weight {name} holds NaN or infinite values")
