"""The language models' LightningDataModule: running text (``data.files``: text and CoNLL-U, any
mix; none: the embedded generated corpus, whose trees are known) → a word-level tokenizer trained on
the training sentences only → the corpus tokenised once into cached arrays → batches of whole
sentences, padded, bucketed by length. A masked LM's batches are masked as BERT masks (dev and test
once, fixed by the seed, so every validation scores the same positions); a causal LM's labels are
the next words."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from attn_project.data.grammar import write_corpus
from attn_project.data.lm_masking import mask_tokens, next_word_labels
from attn_project.data.running_text import (
    LM_SPECIALS,
    TokenArrays,
    check_files,
    corpus_sentences,
    held_out,
    tokenised_corpus,
    train_word_tokenizer,
)
from attn_project.errors import ConfigError, DataError

log = logging.getLogger(__name__)
PAD_ID, MASK_ID = 0, 2  # LM_SPECIALS' order
OBJECTIVES = ("mlm", "causal")
BUCKET = 50  # a shuffled run of 50 batches is sorted by length before it is cut into batches


def lm_batch(sentences: list[np.ndarray], objective: str, vocab_size: int, generator: torch.Generator,
             mask_rate: float = 0.15, mask_all: bool = False) -> dict[str, Tensor]:
    """Id sentences → one padded batch ``{"ids", "labels"}``: a masked LM's chosen words masked as
    BERT trains (80 % [MASK], 10 % a random word, 10 % kept) or, ``mask_all``, every one [MASK] (how
    dev and test are scored: no scored word is visible); or a causal LM's next words."""
    ids = torch.full((len(sentences), max(len(s) for s in sentences)), PAD_ID, dtype=torch.long)  # [B, T]
    for i, sentence in enumerate(sentences):
        ids[i, :len(sentence)] = torch.from_numpy(np.asarray(sentence, dtype=np.int64))
    if objective == "causal":
        return {"ids": ids, "labels": next_word_labels(ids, PAD_ID)}
    inputs, labels = mask_tokens(ids, mask_id=MASK_ID, vocab_size=vocab_size, generator=generator,
                                 special_ids=list(range(len(LM_SPECIALS))), rate=mask_rate,
                                 replace=(1.0, 0.0) if mask_all else (0.8, 0.1))
    return {"ids": inputs, "labels": labels}


class TextDataModule(L.LightningDataModule):
    """Sentences as padded id batches: ``{"ids": [B, T], "labels": [B, T]}`` (labels -100 where unscored)."""

    def __init__(self, files: list[str] | None = None, objective: str = "mlm", vocab_size: int = 8000,
                 min_frequency: int = 1, max_len: int = 64, batch_size: int = 64, eval_batch_size: int = 256,
                 held_out: float = 0.05, mask_rate: float = 0.15, seed: int = 0,
                 generated_sizes: dict[str, int] | None = None, data_dir: str = "data",
                 cache_dir: str = "data/cache", num_workers: int = 0, tokenizer: str = "word",
                 dev_files: list[str] | None = None, test_files: list[str] | None = None):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ConfigError(f"objective={objective!r}: choose one of {OBJECTIVES}")
        sizes = (("batch_size", batch_size), ("max_len", max_len), ("eval_batch_size", eval_batch_size))
        for name, value in sizes:
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"data.{name}={value!r} must be a positive whole number")
        self.files, self.objective, self.vocab_size_asked = files, objective, vocab_size
        self.min_frequency, self.max_len, self.mask_rate = min_frequency, max_len, mask_rate
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size
        self.fraction, self.seed = held_out, seed
        self.generated_sizes = generated_sizes or {"train": 20000, "dev": 2000, "test": 2000}
        self.data_dir, self.cache_dir, self.num_workers = Path(data_dir), Path(cache_dir), num_workers
        self.tokenizer_kind = tokenizer
        self.held_out_files = {"dev": dev_files, "test": test_files}
        self.tokenizer: Tokenizer | None = None
        self.arrays: TokenArrays | None = None
        self.splits: dict[str, np.ndarray] = {}
        self.eval_batches: dict[str, list[dict[str, Tensor]]] = {}
        self.skipped_too_long = 0

    # ── the sentences and their splits ─────────────────────────────────────────────────
    def sources(self) -> tuple[list[Path], np.ndarray]:
        """The files read, and each sentence's split (0 train, 1 dev, 2 test), in reading order."""
        if any(self.held_out_files.values()):
            return self.sources_with_held_out_files()
        if self.files:
            paths = check_files(self.files)
            count = sum(1 for _ in corpus_sentences(paths))
            train, dev, test = held_out(count, self.fraction, self.seed)
            split = np.zeros(count, dtype=np.int8)
            split[dev], split[test] = 1, 2
            log.info("data: %s (%d sentences; dev and test: %.0f%% each, held out with seed %d)",
                     ", ".join(map(str, paths)), count, 100 * self.fraction, self.seed)
            return paths, split
        sizes = self.generated_sizes
        folder = generated_corpus(self.data_dir, sizes, self.max_len)
        paths = [folder / f"default-ud-{s}.conllu" for s in ("train", "dev", "test")]
        split = np.repeat(np.arange(3, dtype=np.int8), [sizes[s] for s in ("train", "dev", "test")])
        log.info("data: the embedded generated corpus (%s; its trees are known), no data.files given", folder)
        return paths, split

    def sources_with_held_out_files(self) -> tuple[list[Path], np.ndarray]:
        """``data.files`` all for training, ``data.dev_files`` / ``data.test_files`` the held-out text
        (a treebank's own dev and test): no file in two splits."""
        given = {"files": self.files, **{f"{k}_files": v for k, v in self.held_out_files.items()}}
        missing = [key for key, value in given.items() if not value]
        if missing:
            raise ConfigError(f"data.{missing[0]} is not given: with held-out files, give data.files (the "
                              f"training text), data.dev_files and data.test_files, or none of the last two")
        paths = {key: check_files(value, f"data.{key}") for key, value in given.items() if value}
        seen: dict[Path, str] = {}
        for key, files in paths.items():
            for path in files:
                if path.resolve() in seen:
                    raise ConfigError(f"data.{key}: {path} is also in data.{seen[path.resolve()]}; a file "
                                      f"belongs to one split")
                seen[path.resolve()] = key
        counts = [sum(1 for _ in corpus_sentences(files)) for files in paths.values()]  # per split
        split = np.repeat(np.arange(3, dtype=np.int8), counts)
        log.info("data: training %s (%d sentences); dev %s (%d); test %s (%d)",
                 *(x for files, count in zip(paths.values(), counts, strict=True)
                   for x in (", ".join(map(str, files)), count)))
        return [p for files in paths.values() for p in files], split

    def setup(self, stage: str | None = None) -> None:
        if self.arrays is not None:
            return
        paths, split = self.sources()
        train_sentences = (words for words, s in zip(corpus_sentences(paths), split) if s == 0)
        self.tokenizer = train_word_tokenizer(train_sentences, self.vocab_size_asked, self.min_frequency,
                                              self.tokenizer_kind)
        self.arrays = tokenised_corpus(paths, self.tokenizer, self.cache_dir)
        if len(self.arrays) != len(split):
            raise DataError(f"the cached arrays hold {len(self.arrays)} sentences, the files {len(split)}")
        fits = (self.arrays.lengths <= self.max_len) & (self.arrays.lengths > 1)
        self.skipped_too_long = int((self.arrays.lengths > self.max_len).sum())
        if self.skipped_too_long:
            log.info("data: %d sentences longer than data.max_len=%d skipped", self.skipped_too_long,
                     self.max_len)
        self.splits = {name: np.flatnonzero((split == k) & fits)
                       for k, name in enumerate(("train", "dev", "test"))}
        for name, rows in self.splits.items():
            if len(rows) == 0:
                raise DataError(f"data: no {name} sentence of 2 to {self.max_len} tokens")
        if len(self.splits["train"]) < self.batch_size:
            raise DataError(f"data: {len(self.splits['train'])} training sentences, fewer than one batch "
                            f"(data.batch_size={self.batch_size}); give more text or a smaller batch")
        generator = torch.Generator().manual_seed(self.seed + 1)  # dev and test masks: fixed once
        self.eval_batches = {name: [self.collate(chunk, generator, mask_all=True)  # no scored word visible
                                    for chunk in self.length_sorted(name)] for name in ("dev", "test")}

    @property
    def vocab_size(self) -> int:
        assert self.tokenizer is not None, "setup() first"
        return self.tokenizer.get_vocab_size()

    # ── batches ────────────────────────────────────────────────────────────────────────
    def length_sorted(self, split: str) -> list[np.ndarray]:
        rows = self.splits[split]
        assert self.arrays is not None
        rows = rows[np.argsort(self.arrays.lengths[rows], kind="stable")]
        return [rows[i:i + self.eval_batch_size] for i in range(0, len(rows), self.eval_batch_size)]

    def train_batches(self, epoch_seed: int) -> list[np.ndarray]:
        """The train split shuffled, sorted by length within runs of ``BUCKET`` batches (little
        padding), cut into batches, and the batches shuffled."""
        assert self.arrays is not None
        rng = np.random.default_rng(epoch_seed)
        rows = rng.permutation(self.splits["train"])
        span = BUCKET * self.batch_size
        batches = []
        for start in range(0, len(rows), span):
            run = rows[start:start + span]
            run = run[np.argsort(self.arrays.lengths[run], kind="stable")]
            batches += [run[i:i + self.batch_size] for i in range(0, len(run), self.batch_size)]
        return [batches[k] for k in rng.permutation(len(batches))]

    def collate(self, rows: np.ndarray, generator: torch.Generator,
                mask_all: bool = False) -> dict[str, Tensor]:
        assert self.arrays is not None
        return lm_batch([self.arrays.sentence(int(k)) for k in rows], self.objective, self.vocab_size,
                        generator, self.mask_rate, mask_all)

    def train_dataloader(self) -> Any:
        epoch = self.trainer.current_epoch if self.trainer is not None else 0
        epoch_seed = self.seed * 1_000_003 + epoch
        trainer = self.trainer
        rank, world = (trainer.global_rank, trainer.world_size) if trainer is not None else (0, 1)
        batches = Batches(self, shard(self.train_batches(epoch_seed), rank, world), epoch_seed, rank, world)
        # resumed mid-epoch: the epoch goes on from the batch after the last one trained on
        sampler = RestOfEpoch(len(batches), batches_done(trainer))
        return DataLoader(batches, batch_size=None, sampler=sampler, num_workers=self.num_workers)

    def val_dataloader(self) -> Any:
        return DataLoader(Batched(self.eval_batches["dev"]), batch_size=None, shuffle=False)

    def test_dataloader(self) -> Any:
        return DataLoader(Batched(self.eval_batches["test"]), batch_size=None, shuffle=False)


def generated_corpus(data_dir: Path, sizes: dict[str, int], max_len: int) -> Path:
    """The embedded generated corpus's folder (written on first use; the same trees every time):
    a language model's training text when no files are given, and the treebank its lens reads."""
    folder = data_dir / "generated" / f"lm_default_{sizes['train']}-{sizes['dev']}-{sizes['test']}"
    write_corpus(folder, sizes, seed=0, max_len=max_len)
    return folder


def batches_done(trainer: Any) -> int:
    """Batches of the current epoch a resumed fit has already trained on (0 when not resuming)."""
    if trainer is None or not getattr(trainer.fit_loop, "restarting", False):
        return 0
    # saved in a batch's end hook: that batch has stepped (processed) but is not yet counted completed
    return int(trainer.fit_loop.epoch_loop.batch_progress.current.processed)


class RestOfEpoch(Sampler):
    """The epoch's batch indices from ``first`` on, while its length stays the whole epoch's: Lightning
    counts a resumed epoch's batches from where it stopped and ends it when the batches run out."""

    def __init__(self, total: int, first: int = 0):
        self.total, self.first = total, first

    def __len__(self) -> int:
        return self.total

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.first, self.total))


def shard(batches: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """This rank's share of an epoch's batches under DDP: every ``world``-th from ``rank``, the same
    number on every rank (the last few dropped), so the ranks see disjoint batches and step together."""
    per_rank = len(batches) // world
    return batches[rank::world][:per_rank] if world > 1 else batches


class Batches(Dataset):
    """One epoch's training batches (one rank's share), collated on demand; a batch's masks come from
    a generator seeded by (epoch, its index in the epoch), so they are the same however the epoch is
    resumed or split over workers and ranks."""

    def __init__(self, dm: TextDataModule, rows: list[np.ndarray], epoch_seed: int, rank: int = 0,
                 world: int = 1):
        self.dm, self.rows, self.epoch_seed = dm, rows, epoch_seed
        self.rank, self.world = rank, world  # batch k here is the epoch's batch rank + k · world

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        generator = torch.Generator().manual_seed(self.epoch_seed * 7919 + self.rank + k * self.world)
        return self.dm.collate(self.rows[k], generator)


class Batched(Dataset):
    """Batches made once (dev, test): one DataLoader over them, batch by batch."""

    def __init__(self, batches: list[dict[str, Tensor]]):
        self.batches = batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> dict[str, Tensor]:
        return self.batches[k]
