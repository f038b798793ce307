"""N-gram baselines of a language model, fitted on its training sentences and scored on the same
test positions it is scored on: the unigram, the left bigram and both neighbours (Witten–Bell backed
off, ``analysis.lm_baselines``), and an interpolated Kneser–Ney trigram (``analysis.kneser_ney``).
For a masked LM: the words its test batches masked, predicted from the true words on both sides
(the strongest n-gram readings stated here: they see their neighbours unmasked, which the model does
not always); the trigram ranks each word by the three trigrams that contain it. For a causal LM: each
next word from the one (bigram) or two (trigram) before it. They predict the words a test position
can hold (a masked LM never scores [UNK]; a causal LM predicts it like any word)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from tqdm.auto import tqdm

from attn_project.analysis.kneser_ney import BOS, EOS, KneserNeyTrigram
from attn_project.analysis.lm_baselines import language_model_baselines, top_and_probability
from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import PAD_ID, TextDataModule
from attn_project.data.running_text import LM_SPECIALS


def neighbours(sentences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left word, right word, word) of every word of the sentences; BOS / EOS where there is none."""
    left, right, word = [], [], []
    for s in sentences:
        s = s.astype(np.int64)
        word.append(s)
        left.append(np.concatenate([[BOS], s[:-1]]))
        right.append(np.concatenate([s[1:], [EOS]]))
    return np.concatenate(left), np.concatenate(right), np.concatenate(word)


class Positions(NamedTuple):
    """The test split's scored positions: the word and two words each side (BOS / EOS past the ends;
    r2 is EOS too when r1 is)."""

    l2: np.ndarray
    l1: np.ndarray
    word: np.ndarray
    r1: np.ndarray
    r2: np.ndarray


def scored_positions(dm: TextDataModule) -> Positions:
    """The words the test batches score and their neighbours, from the unmasked sentences: a masked
    LM's masked words; a causal LM's next words (its right side is EOS: it cannot see it)."""
    assert dm.arrays is not None
    rows = np.concatenate(dm.length_sorted("test"))  # the order the test batches were made in
    columns: list[list[np.ndarray]] = [[], [], [], [], []]
    offset = 0
    for batch in dm.eval_batches["test"]:
        labels = batch["labels"]
        for i in range(labels.size(0)):
            sentence = dm.arrays.sentence(int(rows[offset + i])).astype(np.int64)
            padded = np.concatenate([[BOS, BOS], sentence, [EOS, EOS]])
            positions = torch.nonzero(labels[i] != IGNORE).flatten().numpy()
            if dm.objective == "causal":  # position t predicts the word at t + 1 from the words up to t
                positions = positions + 1
            at = positions + 2  # in the padded sentence
            for k, shift in enumerate((-2, -1, 0, 1, 2)):
                columns[k].append(padded[at + shift] if dm.objective == "mlm" or shift <= 0
                                  else np.full(len(at), EOS))
        offset += labels.size(0)
    return Positions(*(np.concatenate(column) for column in columns))


def trigram_summary(first: np.ndarray, five: np.ndarray, probability: np.ndarray) -> dict:
    return {"acc": float(np.mean(first)), "top5_acc": float(np.mean(five)),
            "perplexity": float(np.exp(-np.log(probability).mean()))}


def trigram_hits(model: KneserNeyTrigram, positions: Positions, objective: str,
                 chunk: int = 256) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per position (top-1 right, in the top five, the true word's probability) of the Kneser–Ney
    trigram: the next word from the two before it, or the masked word from the two on each side —
    over the words only."""
    first, five, probability = [], [], []
    for start in tqdm(range(0, len(positions.word), chunk), desc="Kneser–Ney trigram", leave=False,
                      disable=len(positions.word) < 20 * chunk):
        part = Positions(*(column[start:start + chunk] for column in positions))
        if objective == "causal":
            scores = model.next_word(part.l2, part.l1)[:, :model.vocab_size]
        else:
            scores = model.word_between(part.l2, part.l1, part.r1, part.r2)
            scores[:, :len(LM_SPECIALS)] = 0.0  # a masked position never holds a special or [UNK]
        scores /= scores.sum(axis=1, keepdims=True)
        for row, truth in zip(scores, part.word.tolist(), strict=True):
            top1, top5, p = top_and_probability(row, truth)
            first.append(top1)
            five.append(top5)
            probability.append(p)
    return np.array(first, bool), np.array(five, bool), np.array(probability)


def baselines_and_trigram_hits(dm: TextDataModule) -> tuple[dict, np.ndarray, np.ndarray]:
    """``{name: {acc, top5_acc, perplexity}}`` on the test positions — the unigram, the left bigram,
    both neighbours (a masked LM's) and the Kneser–Ney trigram — and, per test position in order, the
    trigram's top-1 hits and the true words (for a paired comparison): the trigram fitted once."""
    assert dm.arrays is not None
    train = [dm.arrays.sentence(int(k)) for k in dm.splits["train"]]
    left, right, word = neighbours(train)
    if dm.objective == "mlm":  # fitted on the words a masked position can hold ([UNK] never is one)
        words = word >= len(LM_SPECIALS)
        left, right, word = left[words], right[words], word[words]
    test = scored_positions(dm)
    test_right = test.r1
    if dm.objective == "causal":
        right, test_right = np.full_like(right, EOS), np.full_like(test_right, EOS)
    scores = language_model_baselines(left, right, word, test.l1, test_right, test.word, dm.vocab_size)
    if dm.objective == "causal":
        scores.pop("bigram")  # with no right word it is the left bigram again
    first, five, probability = trigram_hits(KneserNeyTrigram(train, dm.vocab_size), test, dm.objective)
    scores["trigram_kn"] = trigram_summary(first, five, probability)
    assert PAD_ID not in set(test.word.tolist())
    return scores, first, test.word
