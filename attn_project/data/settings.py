"""The data settings (``conf/data/*.yaml``) as one checked dataclass.

The same checks serve every source of settings: the command line (through Hydra), a
checkpoint's stored ``datamodule_hyper_parameters`` (``eval.py``) and a run folder's saved
config. A value of the wrong type or out of range ends in one ``ConfigError`` naming the key,
before anything is read, generated or written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attn_project.data.labels import CONTENT, FUNCTION
from attn_project.data.tasks import Task
from attn_project.errors import ConfigError

SPLITS = ("train", "dev", "test")
CORPORA = ("default", "ud")
BATCHINGS = ("sentences", "examples", "random_masks")
TOKENIZERS = ("word", "pieces")  # pieces: word vectors from subword pieces (data/pieces.py)
# Upper bounds, so that a hostile or mistyped value (a checkpoint's, a config's) fails at once
# instead of allocating or generating without end: no treebank has a 4,096-word sentence.
MAX_TOKENS = 4096
MAX_COUNT = 10_000_000  # sentences of a generated split, per epoch, per batch


@dataclass
class DataSettings:
    """Every data setting; the defaults are those of ``conf/data/default.yaml``."""

    root: str
    corpus: str = "default"
    batching: str = "sentences"
    batch_size: int = 64
    eval_batch_size: int = 256
    max_len: int = 64
    lowercase: bool = True
    min_frequency: int | str = 1
    skip_invalid: bool = False
    content: list[str] = field(default_factory=lambda: list(CONTENT))
    function: list[str] = field(default_factory=lambda: list(FUNCTION))
    sizes: dict[str, int] = field(default_factory=lambda: {"train": 20000, "dev": 2000, "test": 2000})
    corpus_seed: int = 0
    seed: int = 0
    tokenizer_path: str | None = None
    cache_dir: str | None = None
    num_workers: int = 0
    num_samples: int = 2
    train_limit: int | None = None
    min_epoch_sentences: int = 0
    task: dict | None = None  # conf/task/*.yaml: what is predicted (None: content_function)
    tokenizer: str = "word"  # word | pieces: each word's vector also from its subword pieces
    piece_vocab_size: int = 4000  # pieces: WordPiece vocabulary size, fitted on the train split
    max_pieces: int = 4  # pieces: pieces kept per word (the first and the last max_pieces - 1)
    mask_rate: float = 0.15  # batching=random_masks: the share of a sentence's targets masked at once

    @classmethod
    def checked(cls, settings: Mapping[str, Any]) -> DataSettings:
        """Settings from any source (config, checkpoint, run folder), every key known and every
        value checked before use."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(settings) - set(names))
        if unknown:
            raise ConfigError(f"data.{unknown[0]}: not a data setting; the settings are {', '.join(names)}")
        if "root" not in settings:
            raise ConfigError("data.root: missing (the corpus folder)")
        values = dict(settings)
        if values.get("sizes") is None:  # null: the default sizes
            values.pop("sizes", None)
        data = cls(**values)
        data.check()
        return data

    def check(self) -> None:
        """Types and ranges of every setting (``ConfigError`` naming the first bad one)."""
        self.require(is_path(self.root), "root", "give a folder path")
        for key in ("tokenizer_path", "cache_dir"):
            value = getattr(self, key)
            self.require(value is None or is_path(value), key, "give a folder path, or null")
        self.require(self.corpus in CORPORA, "corpus", f"choose one of {CORPORA}")
        self.require(self.batching in BATCHINGS, "batching", f"choose one of {BATCHINGS}")
        self.require(isinstance(self.mask_rate, float) and 0.0 < self.mask_rate <= 1.0, "mask_rate",
                     "must be a share in (0, 1]")
        self.require(self.tokenizer in TOKENIZERS, "tokenizer", f"choose one of {TOKENIZERS}")
        self.require(is_int(self.piece_vocab_size, 16, 1_000_000), "piece_vocab_size",
                     "give a vocabulary size in [16, 1000000]")
        self.require(is_int(self.max_pieces, 1, 32), "max_pieces", "give a number of pieces in [1, 32]")
        for key in ("batch_size", "eval_batch_size"):
            self.require(is_int(getattr(self, key), 1, MAX_COUNT), key, "must be a positive integer")
        self.require(is_int(self.max_len, 1, MAX_TOKENS), "max_len",
                     f"must be a positive number of tokens, at most {MAX_TOKENS}")
        for key in ("corpus_seed", "seed"):
            self.require(is_int(getattr(self, key), None, None), key, "must be an integer")
        self.require(is_int(self.num_workers, 0, 256), "num_workers", "must be an integer in [0, 256]")
        self.require(is_int(self.num_samples, 0, 64), "num_samples", "must be an integer in [0, 64]")
        for key in ("lowercase", "skip_invalid"):
            self.require(type(getattr(self, key)) is bool, key, "must be true or false")
        for key in ("content", "function"):
            self.require(is_tags(getattr(self, key)), key, "give a list of UPOS tags, e.g. [NOUN, VERB]")
        self.require(isinstance(self.sizes, Mapping) and set(self.sizes) == set(SPLITS)
                     and all(is_int(n, 1, MAX_COUNT) for n in self.sizes.values()),
                     "sizes", f"give {{train: N, dev: N, test: N}} with positive integers up to {MAX_COUNT}")
        self.require(self.train_limit is None or is_int(self.train_limit, 1, None), "train_limit",
                     "give a positive number of training sentences, or null for all of them")
        self.require(is_int(self.min_epoch_sentences, 0, MAX_COUNT), "min_epoch_sentences",
                     f"give a number of sentences up to {MAX_COUNT} (0: an epoch is one pass over the "
                     f"training sentences)")
        self.require(self.min_frequency == "auto" or is_int(self.min_frequency, 1, None), "min_frequency",
                     "give a number of occurrences (1: every training word has an id) or 'auto'")
        self.require(self.task is None or isinstance(self.task, Mapping), "task",
                     "give the task's settings, e.g. {name: upos}")
        self.task_spec()  # its own checks: name, min_count, bins
        self.sizes = {split: self.sizes[split] for split in SPLITS}  # plain dict, fixed order

    def task_spec(self) -> Task:
        """The task these settings describe (its classes not yet fitted to the data)."""
        return Task.from_settings(self.task, self.content, self.function, self.lowercase)

    def require(self, ok: bool, key: str, advice: str) -> None:
        if not ok:
            shown = repr(getattr(self, key))
            shown = shown if len(shown) <= 80 else shown[:77] + "..."  # a hostile value can be huge
            raise ConfigError(f"data.{key}={shown}: {advice}")


def is_int(value: object, minimum: int | None, maximum: int | None) -> bool:
    """A plain integer (not a bool, not a float) in [minimum, maximum] (None: no bound)."""
    return (type(value) is int and (minimum is None or value >= minimum)
            and (maximum is None or value <= maximum))


def is_path(value: object) -> bool:
    return isinstance(value, str | Path) and "\0" not in str(value) and str(value) != ""


def is_tags(value: object) -> bool:
    return (isinstance(value, Sequence) and not isinstance(value, str)
            and all(isinstance(tag, str) and tag.isalpha() for tag in value))
