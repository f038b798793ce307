"""LightningDataModule: CoNLL-U corpus → masked-token examples → tensors → loaders."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import lightning as L
from tokenizers import Tokenizer
from torch.utils.data import DataLoader
from transformers import PreTrainedTokenizerFast

from attn_project.data.batches import (
    BucketBatchSampler,
    ExampleBatches,
    RandomMaskBatches,
    SentenceBatches,
    SplitTensors,
)
from attn_project.data.conllu import Sentence, read_conllu_cached
from attn_project.data.grammar import GENERATOR_VERSION, check_max_len, write_corpus
from attn_project.data.labels import IGNORE
from attn_project.data.pieces import build_piece_tokenizer, encode, load_piece_tokenizer
from attn_project.data.settings import SPLITS, DataSettings
from attn_project.data.tokenizer import build_word_tokenizer, load_tokenizer
from attn_project.errors import ConfigError, DataError

log = logging.getLogger(__name__)
# data.min_frequency=auto: a word keeps its own id when seen once per 100 training sentences,
# and at least 5 and at most 20 times (README, "Small treebanks": measured on EWT subsamples)
AUTO_MIN_FREQUENCY = {"sentences_per_occurrence": 100, "floor": 5, "cap": 20}


def auto_min_frequency(train_sentences: int) -> int:
    """The min_frequency of ``data.min_frequency=auto`` for this many training sentences."""
    rule = AUTO_MIN_FREQUENCY
    return min(rule["cap"], max(rule["floor"], train_sentences // rule["sentences_per_occurrence"]))


class MaskedTokenDataModule(L.LightningDataModule):
    """One example per target word of each sentence, labelled by the task (``tasks.py``); see
    ``batches.py`` for batching.

    ``corpus="default"`` generates the embedded corpus under ``root`` on first use;
    ``corpus="ud"`` reads ``{root}/*-ud-{train,dev,test}.conllu``. The settings are the keys of
    ``conf/data/default.yaml`` (``DataSettings``), checked before anything is read.
    """

    def __init__(self, **settings: Any):
        super().__init__()
        self.save_hyperparameters(settings)  # logged with the run and stored in its checkpoints
        self.settings = DataSettings.checked(settings)
        if self.settings.corpus == "default":
            check_max_len(self.settings.max_len)
        self.task = self.settings.task_spec()
        self.tokenizer: PreTrainedTokenizerFast = None  # type: ignore[assignment]  # setup() sets it
        self.pieces: Tokenizer | None = None  # data.tokenizer=pieces: the subword vocabulary (setup)
        self.sentences: dict[str, list[Sentence]] = {}
        self.tensors: dict[str, SplitTensors] = {}
        self.relations: list[str] = []

    # ── where the files are ────────────────────────────────────────────────────────────
    def corpus_folder(self) -> Path:
        data = self.settings
        if data.corpus == "ud":
            return Path(data.root)
        sizes = "-".join(str(data.sizes[s]) for s in SPLITS)  # every generator input is in the name
        name = f"default_v{GENERATOR_VERSION}_seed{data.corpus_seed}_{sizes}_len{data.max_len}"
        return Path(data.root) / name

    def split_path(self, split: str) -> Path:
        folder = self.corpus_folder()
        if self.settings.corpus == "default":
            return folder / f"default-ud-{split}.conllu"
        if not folder.is_dir():
            raise DataError(
                f"data.root={folder}: treebank folder not found. Point data.root at a folder with "
                f"*-ud-train/dev/test.conllu, e.g. fetch one with "
                f"`python scripts/fetch_ud.py --treebank en_ewt --out data/ud/en_ewt`.")
        matches = sorted(folder.glob(f"*-ud-{split}.conllu"))
        if len(matches) != 1:
            raise DataError(
                f"data.root={folder}: expected exactly one *-ud-{split}.conllu, found "
                f"{[m.name for m in matches] or 'none'}")
        return matches[0]

    # ── Lightning hooks ────────────────────────────────────────────────────────────────
    def prepare_data(self) -> None:
        if self.settings.corpus == "default":
            treebank = sorted(Path(self.settings.root).glob("*-ud-*.conllu"))
            if treebank and not treebank[0].name.startswith("default-ud-"):
                raise DataError(f"data.root={self.settings.root}: a treebank folder ({treebank[0].name}); "
                                f"data=default would write the generated corpus into it — pass data=ud "
                                f"to read it")
            write_corpus(self.corpus_folder(), {s: self.settings.sizes[s] for s in SPLITS},
                         seed=self.settings.corpus_seed, max_len=self.settings.max_len)

    def setup(self, stage: str | None = None) -> None:
        if self.tensors:
            return
        self.prepare_data()
        for split in SPLITS:
            self.sentences[split] = self.read_split(split)
        if self.tokenizer is None:  # a tokenizer set beforehand (e.g. a checkpoint's) is kept
            self.tokenizer = (load_tokenizer(self.settings.tokenizer_path) if self.settings.tokenizer_path
                              else build_word_tokenizer((s.tokens for s in self.sentences["train"]),
                                                        self.settings.lowercase, self.word_min_frequency()))
        if self.settings.tokenizer == "pieces" and self.pieces is None:  # a checkpoint's is kept
            self.pieces = self.piece_vocabulary()
        self.relations = sorted({r for split in SPLITS for s in self.sentences[split] for r in s.deprels})
        self.task.fit(self.sentences["train"], self.tokenizer.get_vocab())
        for split in SPLITS:
            self.tensors[split] = self.tensorize(self.sentences[split])
        self.task.check(self.tensors["train"].labels.tolist(), str(self.split_path("train")))

    def piece_vocabulary(self) -> Tokenizer:
        """The saved one of ``data.tokenizer_path``, or a WordPiece vocabulary fitted on train's words."""
        data = self.settings
        if data.tokenizer_path:
            return load_piece_tokenizer(data.tokenizer_path)
        return build_piece_tokenizer((s.tokens for s in self.sentences["train"]), data.piece_vocab_size,
                                     data.lowercase)

    def read_split(self, split: str) -> list[Sentence]:
        data = self.settings
        sentences = read_conllu_cached(self.split_path(split), data.cache_dir, data.skip_invalid)
        kept = [s for s in sentences if len(s) <= self.settings.max_len]
        if len(kept) < len(sentences):
            log.info("%s: dropped %d of %d sentences longer than data.max_len=%d", split,
                     len(sentences) - len(kept), len(sentences), self.settings.max_len)
        if not kept:
            raise ConfigError(f"{self.split_path(split)}: no sentence has at most "
                             f"data.max_len={self.settings.max_len} tokens")
        return self.limit(kept) if split == "train" else kept

    def limit(self, sentences: list[Sentence]) -> list[Sentence]:
        """``data.train_limit`` training sentences drawn with ``data.seed`` (in corpus order), for
        learning curves: another seed draws another subsample; dev and test are never cut."""
        if self.settings.train_limit is None or self.settings.train_limit >= len(sentences):
            if self.settings.train_limit is not None:
                log.warning("data.train_limit=%d: the train split has only %d sentences; using all",
                            self.settings.train_limit, len(sentences))
            return sentences
        limit = self.settings.train_limit
        chosen = sorted(random.Random(self.settings.seed).sample(range(len(sentences)), limit))
        log.info("train: %d of %d sentences (data.train_limit, seed %d)", len(chosen), len(sentences),
                 self.settings.seed)
        return [sentences[i] for i in chosen]

    def word_min_frequency(self) -> int:
        """``data.min_frequency``, with 'auto' resolved against the training sentences."""
        if self.settings.min_frequency != "auto":
            return int(self.settings.min_frequency)
        chosen = auto_min_frequency(len(self.sentences["train"]))
        log.info("data.min_frequency=auto: words seen fewer than %d times in %d training sentences "
                 "become [UNK]", chosen, len(self.sentences["train"]))
        return chosen

    def tensorize(self, sentences: list[Sentence]) -> SplitTensors:
        rel_ids = {r: i for i, r in enumerate(self.relations)}
        return SplitTensors.build(
            self.encode([s.tokens for s in sentences]),
            [self.task.labels(s) for s in sentences],
            [s.heads for s in sentences],
            [[rel_ids[r] for r in s.deprels] for s in sentences],
            [[tag == "PUNCT" for tag in s.upos] for s in sentences],
        )

    def encode(self, sentences: list[list[str]]) -> list[list]:
        """Word ids per word, or with pieces ``[word id, piece 1, …, piece P]`` per word."""
        return encode(self.tokenizer, self.pieces, sentences, self.settings.max_pieces)

    @property
    def piece_vocab_size(self) -> int:
        """The number of subword pieces (0 without ``data.tokenizer=pieces``)."""
        return 0 if self.pieces is None else self.pieces.get_vocab_size()

    @property
    def num_classes(self) -> int:
        return len(self.task.classes)

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def mask_id(self) -> int:
        return self.tokenizer.mask_token_id

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id

    @property
    def unk_id(self) -> int:
        return self.tokenizer.unk_token_id

    # ── loaders ───────────────────────────────────────────────────────────────────────
    def loader(self, split: str, batching: str | None = None, shuffle: bool = False,
               batch_size: int | None = None) -> DataLoader:
        batching = batching or self.settings.batching
        if batching == "random_masks" and split != "train":
            batching = "examples"  # dev and test: the one-mask task itself, exactly
        tensors = self.tensors[split]
        dataset: SentenceBatches | ExampleBatches | RandomMaskBatches
        if batching == "sentences":
            dataset, lengths = SentenceBatches(tensors), tensors.lengths
        elif batching == "random_masks":
            dataset = RandomMaskBatches(tensors, self.mask_id, self.settings.mask_rate)
            lengths = tensors.lengths
        else:
            dataset = ExampleBatches(tensors, self.mask_id)
            lengths = dataset.lengths
        size = batch_size or (self.settings.batch_size if shuffle else self.settings.eval_batch_size)
        sampler = BucketBatchSampler(lengths, size, shuffle=shuffle, seed=self.settings.seed,
                                     passes=self.passes_per_epoch() if split == "train" else 1)
        return DataLoader(dataset, sampler=sampler, batch_size=None, num_workers=self.settings.num_workers,
                          persistent_workers=self.settings.num_workers > 0)

    def passes_per_epoch(self) -> int:
        """How often a training epoch goes over the training sentences: enough to see
        ``min_epoch_sentences`` of them, so a small corpus gets as many optimizer steps per epoch
        (and between validations) as a large one."""
        return max(1, -(-self.settings.min_epoch_sentences // len(self.tensors["train"])))

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self.loader("dev")

    def test_dataloader(self) -> DataLoader:
        return self.loader("test")

    # ── what callbacks and the analysis need ──────────────────────────────────────────
    def sample_indices(self, split: str = "dev", n: int | None = None) -> list[int]:
        """A fixed set of readable sentences (8–14 tokens, at least 4 targets) for heat maps."""
        n = self.settings.num_samples if n is None else n
        picked = []
        for i, sentence in enumerate(self.sentences[split]):
            targets = sum(label != IGNORE for label in self.task.labels(sentence))
            if 8 <= len(sentence) <= 14 and targets >= 4:
                picked.append(i)
            if len(picked) == n:
                break
        return picked

    def tokens_of(self, split: str, index: int) -> list[str]:
        return self.sentences[split][index].tokens
