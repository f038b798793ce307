"""The model's settings (``ModelConfig``), each checked before a module is built; errors name the
config key."""

from __future__ import annotations

import re
from dataclasses import dataclass

from attn_project.errors import ConfigError
from attn_project.model.controls import GOLD

INITS = ("default", "normal")
# where the attention scores come from: the trained model (content), its trained controls (position,
# uniform, offset), oracles (gold_head, gold_neighbourhood: they read the gold tree) and a pretrained
# head's row of the masked sentence (pretrained: computed outside the model, ``pretrained.masked_rows``)
SCORES = ("content", "position", "uniform", "offset", *GOLD, "pretrained")
POSITIONAL = ("sinusoidal", "learned")
# what the values carry: the words (and positions) as embedded; or, the structure-only controls (with
# a rule's rows: what the row's shape alone gives), the key's position alone (the oracle's own value
# space without the word) or the key's offset j - i from the row (its shape relative to the word)
VALUES = ("words", "positions", "offsets")


@dataclass
class ModelConfig:
    """The model's settings. ``conf/model/*.yaml`` holds the defaults a run uses (these are the
    same); ``vocab_size``, ``max_len`` and the ids of [MASK], [PAD] and [UNK] come from the data."""

    vocab_size: int
    max_len: int = 64
    mask_id: int = 2
    pad_id: int = 0
    unk_id: int = 1
    d_model: int = 64
    num_heads: int = 1
    positional: str = "sinusoidal"
    residual: bool = False
    layer_norm: bool = False
    feed_forward: bool = False
    d_ff: int | None = None
    dropout: float = 0.0
    embedding_dropout: float = 0.0
    word_dropout: float = 0.0
    init: str = "default"
    directional_values: bool = False
    relative_bias: bool = False
    embedding_std: float | None = None
    num_classes: int = 2
    class_names: list[str] | None = None  # the task's classes, in label order (from the data)
    scores: str = "content"  # content (Q·K, + bias) | position | uniform | offset | gold_* | pretrained
    pretrained_head: str | None = None  # scores=pretrained: head L<l>H<h> (None: chosen on dev by the lens)
    pretrained_path: str | None = None  # scores=pretrained: a local encoder folder (None: the bundled MiniLM)
    fixed_offset: int | None = None  # scores=offset: the offset j − i attended (train.py: best on dev)
    values: str = "words"  # words | positions | offsets (no word content: the structure-only controls)
    piece_vocab_size: int = 0  # data.tokenizer=pieces: subword pieces per word (ids [B, T, 1 + P]); 0: words
    num_layers: int = 1  # ≥ 2: encoder blocks (model/blocks.py); their weights are heads L<l>H<h>

    def __post_init__(self) -> None:
        """Every setting checked before a module is built; errors name the config key (``key``)."""
        self.check_sizes()
        self.check_depth()
        for name in ("dropout", "embedding_dropout", "word_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ConfigError(f"{key(name)}={getattr(self, name)} must be a probability in [0, 1)")
        for name, allowed in (("init", INITS), ("positional", POSITIONAL), ("scores", SCORES),
                              ("values", VALUES)):
            if getattr(self, name) not in allowed:
                raise ConfigError(f"{key(name)}={getattr(self, name)!r}: choose one of {allowed}")
        if self.class_names is not None and (not isinstance(self.class_names, list)
                                             or len(self.class_names) != self.num_classes
                                             or not all(isinstance(n, str) for n in self.class_names)):
            raise ConfigError(f"class_names={self.class_names!r}: give num_classes={self.num_classes} names")
        if self.scores == "offset" and not isinstance(self.fixed_offset, int):
            raise ConfigError(f"{key('fixed_offset')}={self.fixed_offset!r}: {key('scores')}=offset needs an "
                              f"offset j - i")
        if self.pretrained_head is not None and not re.fullmatch(r"L\d+H\d+", str(self.pretrained_head)):
            raise ConfigError(f"{key('pretrained_head')}={self.pretrained_head!r}: name a head as "
                              f"L<layer>H<head> (e.g. L2H8, as attn-pretrained names them), or null to "
                              f"choose it on dev")
        if self.values != "words" and self.scores == "content":
            raise ConfigError(f"{key('values')}={self.values} is a structure-only control: its rows come "
                              f"from a rule ({key('scores')}=position, uniform, offset, gold_head or "
                              f"gold_neighbourhood), not from Q·K")
        if self.values == "offsets" and (self.num_heads != 1 or self.directional_values):
            raise ConfigError(f"{key('values')}=offsets is a one-head control: set {key('num_heads')}=1, "
                              f"no {key('directional_values')}")
        if self.directional_values and self.num_heads != 1:
            raise ConfigError(f"{key('directional_values')}=true is a single-head design: set "
                              f"{key('num_heads')}=1 (several heads can keep sides apart on their own)")

    def check_depth(self) -> None:
        if not isinstance(self.num_layers, int) or self.num_layers < 1:
            raise ConfigError(f"{key('num_layers')}={self.num_layers!r} must be a whole number ≥ 1 (1: the "
                              f"one-layer classifier; more: encoder blocks)")
        if self.num_layers > 1 and (self.scores != "content" or self.values != "words"):
            raise ConfigError(f"{key('num_layers')}={self.num_layers} with {key('scores')}={self.scores}, "
                              f"{key('values')}={self.values}: the trained controls fix the one layer's "
                              f"rows; deep models learn theirs ({key('scores')}=content, "
                              f"{key('values')}=words)")

    @property
    def deep(self) -> bool:
        return self.num_layers > 1

    @property
    def rows_train(self) -> bool:
        """Whether training can change the attention rows: Q·K (content) or the learned relative
        bias (position); a rule's, an oracle's or a pretrained head's rows are fixed."""
        return self.scores in ("content", "position")

    def check_sizes(self) -> None:
        if self.d_model <= 0:
            raise ConfigError(f"{key('d_model')}={self.d_model} must be positive")
        if self.num_heads < 1 or self.d_model % self.num_heads != 0:
            raise ConfigError(f"{key('num_heads')}={self.num_heads} must be ≥ 1 and divide "
                              f"{key('d_model')}={self.d_model} (each head gets d_model / num_heads "
                              f"dimensions); pick e.g. {key('num_heads')}=1, 2 or 4.")
        if self.max_len <= 0:
            raise ConfigError(f"{key('max_len')}={self.max_len} must be a positive number of tokens")


def key(name: str) -> str:
    """A model setting as the config names it: ``model.<name>``, or ``data.max_len`` (the data
    section sets it; the model reads it)."""
    return "data.max_len" if name == "max_len" else f"model.{name}"
