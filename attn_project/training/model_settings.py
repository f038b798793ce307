"""A run's model settings completed from its data: the sizes only the data knows, every key
checked (a bad one reported under its config key), and what a control reads from the data — a
pretrained head's rows (``model.scores=pretrained``), the dev-chosen offset (``model.scores=offset``)."""

from __future__ import annotations

import dataclasses
import logging

from attn_project.analysis.mask_maps import analyse_split
from attn_project.analysis.position import best_offset
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.errors import ConfigError
from attn_project.model import MaskedTokenClassifier, ModelConfig
from attn_project.pretrained.masked_rows import attach_pretrained_rows

log = logging.getLogger(__name__)


def model_settings(model: dict, dm: MaskedTokenDataModule, batching: str, punct_edges: bool) -> dict:
    """The config's ``model`` section (plain) with the data's sizes filled in, every key checked, and
    a control's data-chosen settings added."""
    model = {**model, "vocab_size": dm.vocab_size, "mask_id": dm.mask_id, "pad_id": dm.pad_id,
             "unk_id": dm.unk_id, "max_len": dm.settings.max_len, "num_classes": dm.num_classes,
             "class_names": list(dm.task.classes), "piece_vocab_size": dm.piece_vocab_size}
    unknown = sorted(set(model) - {f.name for f in dataclasses.fields(ModelConfig)})
    if unknown:
        raise ConfigError(f"model.{unknown[0]}: not a model setting; see conf/model/single_head.yaml")
    check_depth_batching(int(model.get("num_layers", 1)), batching)
    if model.get("scores") == "pretrained":  # its rows come from the encoder, once per treebank (cached)
        model["pretrained_head"] = attach_pretrained_rows(dm, model.get("pretrained_head"),
                                                          model.get("pretrained_path"))
    if model.get("scores") == "offset" and model.get("fixed_offset") is None:
        model["fixed_offset"] = best_dev_offset(dm, punct_edges)
        log.info("model.scores=offset: all attention on the word at offset %+d (best on dev)",
                 model["fixed_offset"])
    return model


def check_depth_batching(num_layers: int, batching: str) -> None:
    """The one-pass mask map is exact for one layer only: a deep model trains on masked copies."""
    if num_layers == 1 and batching == "random_masks":
        raise ConfigError("data.batching=random_masks with model.num_layers=1: several masks at once are for "
                          "deep models; one layer trains exactly on every target at once "
                          "(data.batching=sentences)")
    if num_layers > 1 and batching == "sentences":
        raise ConfigError(f"data.batching=sentences with model.num_layers={num_layers}: the one-pass mask "
                          f"map is exact for one layer only (masking a word changes every layer-1 output); "
                          f"set data.batching=examples (one masked copy per target) or "
                          f"data.batching=random_masks (several masks per sentence, an approximation)")


def best_dev_offset(dm: MaskedTokenDataModule, punct_edges: bool) -> int:
    """The fixed offset most often a gold link on the dev split, as the report defines it."""
    any_model = MaskedTokenClassifier(ModelConfig(vocab_size=dm.vocab_size, max_len=dm.settings.max_len,
                                                  mask_id=dm.mask_id, pad_id=dm.pad_id))
    rows = analyse_split(any_model, dm.tensors["dev"], punct_edges=punct_edges)  # gold links: any model
    return best_offset(rows)
