"""Running text for the language models: plain-text files (one sentence per line, tokens separated
by spaces) and CoNLL-U treebanks (their words), any mix; a word-level tokenizer trained on them with
the ``tokenizers`` library (the most frequent words, [UNK] for the rest); and the corpus tokenised
once into flat arrays on disk (``ids`` uint32, ``offsets`` int64: sentence k is ids[offsets[k]:
offsets[k+1]]), cached by the files' content and the tokenizer, read back memory-mapped — a large
corpus never becomes Python lists in RAM."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from attn_project.data.conllu import read_conllu
from attn_project.data.files import atomic_write, file_digest, utf8_lines
from attn_project.errors import DataError

MAX_LINE_BYTES = 1 << 20  # a sentence line longer than this (1 MiB) is refused, not read on
LM_SPECIALS = ["[PAD]", "[UNK]", "[MASK]"]  # ids 0, 1, 2
CONLLU_SUFFIXES = (".conllu", ".conll")


def check_files(files: Iterable[str | Path], key: str = "data.files") -> list[Path]:
    """Each entry of ``key`` names a readable, non-empty regular file (errors name the entry)."""
    paths = [Path(f) for f in files]
    if not paths:
        raise DataError(f"{key} is empty: give at least one text or CoNLL-U file")
    for k, path in enumerate(paths):
        where = f"{key}[{k}]={path}"
        if path.is_dir():
            raise DataError(f"{where} is a folder; name its files (e.g. {path}/*.txt)")
        if not path.is_file():
            raise DataError(f"{where}: no such file")
        if path.stat().st_size == 0:
            raise DataError(f"{where}: the file is empty")
    return paths


def text_sentences(path: Path) -> Iterator[list[str]]:
    """The sentences of a plain-text file, split at spaces; blank lines skipped. A binary or
    non-UTF-8 file, or a line over ``MAX_LINE_BYTES``, is an error naming the file and line."""
    for _, line in utf8_lines(path, MAX_LINE_BYTES, DataError, "a text file holds one sentence a line"):
        words = line.split()
        if words:
            yield words


def corpus_sentences(paths: Iterable[Path]) -> Iterator[list[str]]:
    """Every sentence of every file in order: a treebank's words, a text file's lines."""
    for path in paths:
        if path.suffix in CONLLU_SUFFIXES:
            yield from (sentence.tokens for sentence in read_conllu(path))
        else:
            yield from text_sentences(path)


TOKENIZERS = ("word", "wordpiece")


def train_word_tokenizer(sentences: Iterable[list[str]], vocab_size: int,
                         min_frequency: int = 1, kind: str = "word") -> Tokenizer:
    """Word level (``kind="word"``): the ``vocab_size`` − 3 most frequent words (seen
    ``min_frequency`` times) and [PAD] [UNK] [MASK]; one token per word (split at spaces only), so the
    lens reads one row a word. ``"wordpiece"``: BERT's WordPiece pieces (``##`` continues a word)
    within the same spaces; the lens then pools a word's pieces."""
    if kind not in TOKENIZERS:
        raise DataError(f"data.tokenizer={kind!r}: choose one of {TOKENIZERS}")
    if vocab_size <= len(LM_SPECIALS):
        raise DataError(f"data.vocab_size={vocab_size}: must exceed the {len(LM_SPECIALS)} special tokens")
    trainer: trainers.Trainer
    if kind == "word":
        tokenizer = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=LM_SPECIALS)
    else:
        tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]", continuing_subword_prefix="##"))
        trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                            special_tokens=LM_SPECIALS, continuing_subword_prefix="##")
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator((" ".join(words) for words in sentences), trainer=trainer)
    if tokenizer.get_vocab_size() <= len(LM_SPECIALS):
        raise DataError("data.files hold no word to build a vocabulary from")
    return tokenizer


def corpus_key(paths: list[Path], tokenizer: Tokenizer) -> str:
    """The cache key: every file's content digest, in order, and the tokenizer itself."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(file_digest(path).encode())
    digest.update(hashlib.sha256(tokenizer.to_str().encode()).hexdigest().encode())
    return digest.hexdigest()[:20]


def write_token_arrays(sentences: Iterable[list[str]], tokenizer: Tokenizer, ids_path: Path,
                       offsets_path: Path, batch: int = 10_000) -> int:
    """Tokenise in batches straight to disk (each file written atomically); → the number of sentences."""
    lengths: list[int] = []

    def write_ids(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            iterator = iter(sentences)
            while chunk := list(itertools.islice(iterator, batch)):
                for encoding in tokenizer.encode_batch(chunk, is_pretokenized=True):
                    handle.write(np.asarray(encoding.ids, dtype=np.uint32).tobytes())
                    lengths.append(len(encoding.ids))

    atomic_write(ids_path, write_ids)
    offsets = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
    def write_offsets(tmp: Path) -> None:
        with tmp.open("wb") as handle:
            np.save(handle, offsets)

    atomic_write(offsets_path, write_offsets)
    return len(lengths)


class TokenArrays:
    """A tokenised corpus on disk, memory-mapped: ``sentence(k)`` → its ids (uint32)."""

    def __init__(self, ids_path: Path, offsets_path: Path):
        self.offsets = np.load(offsets_path)
        total = int(self.offsets[-1])
        self.ids = (np.memmap(ids_path, dtype=np.uint32, mode="r", shape=(total,)) if total
                    else np.zeros(0, np.uint32))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sentence(self, k: int) -> np.ndarray:
        return np.asarray(self.ids[self.offsets[k]:self.offsets[k + 1]])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def tokenised_corpus(paths: list[Path], tokenizer: Tokenizer, cache_dir: Path) -> TokenArrays:
    """The corpus's token arrays, from the cache when these files and this tokenizer made them."""
    key = corpus_key(paths, tokenizer)
    ids_path, offsets_path = cache_dir / f"lm-{key}.ids.u32", cache_dir / f"lm-{key}.offsets.npy"
    if not (ids_path.is_file() and offsets_path.is_file()):
        write_token_arrays(corpus_sentences(paths), tokenizer, ids_path, offsets_path)
        meta = {"files": [str(p) for p in paths], "vocab_size": tokenizer.get_vocab_size()}
        atomic_write(cache_dir / f"lm-{key}.json", lambda tmp: tmp.write_text(json.dumps(meta)))
    return TokenArrays(ids_path, offsets_path)


def held_out(num_sentences: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, dev, test) sentence indices: a ``fraction`` each for dev and test, fixed by ``seed``."""
    order = np.random.default_rng(seed).permutation(num_sentences)
    size = int(round(num_sentences * fraction))
    if num_sentences - 2 * size < 1 or size < 1:
        raise DataError(f"{num_sentences} sentences cannot give a train split and dev/test of "
                        f"{fraction:.0%} each; give more text or another data.held_out")
    return np.sort(order[2 * size:]), np.sort(order[:size]), np.sort(order[size:2 * size])
