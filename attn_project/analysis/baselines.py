"""Task baselines on the same splits: yardsticks for the classifier's accuracy.

- majority: always the most frequent class of the train split;
- bigram: logistic regression (multinomial for more than two classes) on the word left and the
  word right of the mask, each side with its own weights (it knows which side a word stood on);
- bag_of_neighbours: the same two words sharing one weight per word (the side is lost) — what
  one attention head, a weighted average of value vectors, can see at best from two neighbours;
- with ``data.tokenizer=pieces``, ``bigram_pieces`` and ``bag_of_pieces``: the same with each
  neighbour's subword pieces as features beside its word — what the model is given, made fair;
- valency: logistic regression on the hidden word's place in the gold tree alone — how many
  dependents it has (0, 1, 2, 3+) and whether it is the root. No word is read: it measures what
  the *shape* of a gold-neighbourhood row gives away (function words are leaves), the leak the
  oracles are reported beside. On content/function it learns "content if the word has a
  dependent or is the root";
- ``<name>_class_balanced``: bigram, bag of neighbours and valency fitted with class weights
  (scikit-learn's ``class_weight="balanced"``), the yardsticks for models chosen on balanced
  accuracy (the treebank recipe).

The baselines read every training word as its own feature (``every_word_splits``), whatever
vocabulary the model uses: raising the model's ``min_frequency`` does not weaken its yardsticks.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import sklearn
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from attn_project.analysis.lm_baselines import language_model_baselines
from attn_project.data.batches import PAD_HEAD, SplitTensors
from attn_project.data.files import cached_file, read_json, write_json
from attn_project.data.labels import IGNORE
from attn_project.data.tokenizer import build_word_tokenizer, encode_words

if TYPE_CHECKING:
    from attn_project.data.datamodule import MaskedTokenDataModule

VERSION = 6  # of the baselines' definition: bump it when task_baselines changes


def every_word_splits(dm: MaskedTokenDataModule) -> tuple[SplitTensors, SplitTensors, int]:
    """The DataModule's train and test splits with every training word its own id (the model's
    tokenizer may fold rare words into [UNK]) — and, with pieces, the model's pieces beside it;
    → (train, test, vocabulary size)."""
    tokenizer = build_word_tokenizer((s.tokens for s in dm.sentences["train"]), dm.settings.lowercase)
    splits = []
    for name in ("train", "test"):
        split = dm.tensors[name]
        ids = torch.zeros(split.ids.shape[:2], dtype=torch.long)  # [N, L], padded as the split is
        for row, words in enumerate(encode_words(tokenizer, [s.tokens for s in dm.sentences[name]])):
            ids[row, : len(words)] = torch.tensor(words)
        if split.ids.dim() == 3:  # [N, L, 1 + P]: every word's own id, then the model's pieces
            ids = torch.cat([ids.unsqueeze(-1), split.ids[..., 1:]], -1)
        splits.append(dataclasses.replace(split, ids=ids))
    return splits[0], splits[1], len(tokenizer)


def neighbours(split: SplitTensors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every target: (left word id, right word id, label); -1 where the sentence ends. With
    pieces, each side is [n, 1 + P]: the word id and its pieces."""
    sentence, position = split.examples()
    edge = (1,) * (split.ids.dim() - 2)  # broadcast the [n] tests over the pieces
    left = np.where((position > 0).view(-1, *edge), split.ids[sentence, (position - 1).clamp_min(0)], -1)
    right_pos = position + 1
    inside = (right_pos < split.lengths[sentence]).view(-1, *edge)
    right = np.where(inside, split.ids[sentence, right_pos.clamp_max(split.ids.size(1) - 1)], -1)
    return left, right, split.labels[sentence, position].numpy()


def features(left: np.ndarray, right: np.ndarray, vocab_size: int, ordered: bool) -> sp.csr_matrix:
    """One-hot rows: [left | right] (ordered) or left + right in one shared space (bag)."""
    boundary = vocab_size  # "no word here" (sentence start or end)
    left = np.where(left < 0, boundary, left)
    right = np.where(right < 0, boundary, right)
    width = vocab_size + 1
    cols = np.concatenate([left, right + (width if ordered else 0)])
    rows = np.concatenate([np.arange(len(left))] * 2)
    data = np.ones(len(cols), dtype=np.float32)
    return sp.csr_matrix((data, (rows, cols)), shape=(len(left), width * (2 if ordered else 1)))


def piece_features(left: np.ndarray, right: np.ndarray, vocab_size: int, piece_vocab: int,
                   ordered: bool) -> sp.csr_matrix:
    """The word one-hots of ``features`` beside each neighbour's pieces (multi-hot, [PAD] left out;
    per side when ``ordered``): left/right are [n, 1 + P]."""
    words = features(left[:, 0], right[:, 0], vocab_size, ordered)
    sides = []
    for side in (left, right):
        pieces = np.where(side[:, :1] < 0, 0, side[:, 1:])  # off the sentence: no pieces
        rows, cols = np.nonzero(pieces)
        sides.append(sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, pieces[rows, cols])),
                                   shape=(len(side), piece_vocab)))
    piece_part = sp.hstack(sides) if ordered else sides[0] + sides[1]
    return sp.hstack([words, piece_part]).tocsr()


def valency_features(split: SplitTensors) -> sp.csr_matrix:
    """For every target, one-hot: its number of dependents in the gold tree (0, 1, 2, 3+) and
    whether it is the root — the row shape of a gold-neighbourhood oracle, no word read."""
    sentence, position = split.examples()
    heads = split.heads  # [N, L]; the root's head < 0 (padding: PAD_HEAD)
    dependents = (heads[:, :, None] == torch.arange(heads.size(1))).sum(1)  # [N, L]: per word
    count = dependents[sentence, position].clamp_max(3).numpy()
    is_root = ((heads[sentence, position] < 0) & (heads[sentence, position] != PAD_HEAD)).numpy()
    cols = np.concatenate([count, 4 + np.zeros(int(is_root.sum()), dtype=np.int64)])
    rows = np.concatenate([np.arange(len(count)), np.flatnonzero(is_root)])
    return sp.csr_matrix((np.ones(len(cols), dtype=np.float32), (rows, cols)), shape=(len(count), 5))


def task_baselines(train: SplitTensors, test: SplitTensors, vocab_size: int, seed: int = 0,
                   num_classes: int | None = None) -> dict:
    """Accuracy of the baselines on ``test``, fitted on ``train`` (each also class-balanced; with
    pieces, the piece baselines too). With ``num_classes`` (the word task: thousands of classes),
    the language-model baselines instead (``lm_baselines``)."""
    left_tr, right_tr, y_tr = neighbours(train)
    left_te, right_te, y_te = neighbours(test)
    if num_classes is not None:
        return language_model_baselines(word(left_tr), word(right_tr), y_tr, word(left_te), word(right_te),
                                        y_te, num_classes)
    majority = int(np.bincount(y_tr, minlength=2).argmax())
    out = {"majority": {**scores(y_te, np.full_like(y_te, majority)), "class": majority}}
    with_pieces = left_tr.ndim == 2
    piece_vocab = int(max(train.ids[..., 1:].max(), test.ids[..., 1:].max())) + 1 if with_pieces else 0
    for name, ordered in (("bigram", True), ("bag_of_neighbours", False)):
        x_train = features(word(left_tr), word(right_tr), vocab_size, ordered)
        x_test = features(word(left_te), word(right_te), vocab_size, ordered)
        out[name] = fit_and_score(x_train, y_tr, x_test, y_te, seed)
        out[f"{name}_class_balanced"] = fit_and_score(x_train, y_tr, x_test, y_te, seed, balanced=True)
        if with_pieces:
            out["bigram_pieces" if ordered else "bag_of_pieces"] = fit_and_score(
                piece_features(left_tr, right_tr, vocab_size, piece_vocab, ordered), y_tr,
                piece_features(left_te, right_te, vocab_size, piece_vocab, ordered), y_te, seed)
    if (train.heads[train.labels != IGNORE] != PAD_HEAD).any():  # a gold tree to read
        x_train, x_test = valency_features(train), valency_features(test)
        for suffix, balanced in (("", False), ("_class_balanced", True)):
            out[f"valency{suffix}"] = fit_and_score(x_train, y_tr, x_test, y_te, seed, balanced=balanced)
    return out


def word(side: np.ndarray) -> np.ndarray:
    """[n]: the word ids of one side (with pieces, its first column)."""
    return side if side.ndim == 1 else side[:, 0]


def fit_and_score(x_train: sp.csr_matrix, y_train: np.ndarray, x_test: sp.csr_matrix, y_test: np.ndarray,
                  seed: int, balanced: bool = False) -> dict:
    """Fitted on train, scored on test; ``balanced``: classes weighted inversely to their frequency."""
    clf = LogisticRegression(max_iter=300, C=1.0, random_state=seed,
                             class_weight="balanced" if balanced else None)
    clf.fit(x_train, y_train)
    return scores(y_test, clf.predict(x_test))


def scores(truth: np.ndarray, predicted: np.ndarray) -> dict:
    """Accuracy, balanced accuracy and macro-F1 (scikit-learn; macro over the classes with test
    targets), as the model is reported."""
    classes = np.unique(truth)
    return {"acc": float(accuracy_score(truth, predicted)),
            "balanced_acc": float(balanced_accuracy_score(truth, predicted)),
            "macro_f1": float(f1_score(truth, predicted, average="macro", labels=classes, zero_division=0))}


def data_fingerprint(dm: MaskedTokenDataModule, seed: int) -> str:
    """A hash of everything the baselines depend on — the train and test words as written, their
    labels, the model's pieces when it has them, the settings — read straight from the
    DataModule, so a cached result is found without tokenising the splits again (``every_word_splits``
    takes ~2 s on the default corpus: most of a run's report time, before this key)."""
    digest = hashlib.sha1(f"{VERSION}/{sklearn.__version__}/{seed}/{dm.settings.lowercase}".encode())
    for name in ("train", "test"):
        digest.update("\n".join("\t".join(s.tokens) for s in dm.sentences[name]).encode())
        split = dm.tensors[name]
        tensors = (split.labels, split.lengths) + ((split.ids[..., 1:],) if split.ids.dim() == 3 else ())
        for tensor in tensors:
            digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def datamodule_baselines(dm: MaskedTokenDataModule, seed: int = 0) -> dict:
    """``task_baselines`` of the DataModule's splits, kept in ``data.cache_dir`` under
    ``data_fingerprint``: the logistic regressions take seconds, and every run (every sweep job) on
    the same data would refit them."""
    return cached_baselines(dm.settings.cache_dir, data_fingerprint(dm, seed),
                            lambda: task_baselines(*every_word_splits(dm), seed=seed, num_classes=(
                                len(dm.task.classes) if dm.task.name == "word" else None)))


def cached_baselines(cache_dir: str | Path | None, key: str, compute: Callable[[], dict]) -> dict:
    """``compute()``, or its result stored under ``key`` in ``cache_dir`` (no cache: computed),
    fitted once however many parallel jobs ask (``files.cached_file``)."""
    if cache_dir is None:
        return compute()
    return cached_file(Path(cache_dir) / f"baselines-{key}.json", compute, read_json, write_json)
