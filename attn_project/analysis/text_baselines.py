"""N-gram baselines of a language model, fitted on its training sentences and scored on the same
test positions it is scored on (``analysis.lm_baselines``: unigram, left bigram, both neighbours,
Witten–Bell backed off): for a masked LM the words its test batches masked, predicted from the true
neighbours on both sides (the strongest n-gram reading stated here: it sees both neighbours unmasked,
which the model does not always); for a causal LM each next word from the word before it. They are
fitted on the training words a test position can hold (a masked LM never scores [UNK]; a causal LM
predicts it like any word)."""

from __future__ import annotations

import numpy as np
import torch

from attn_project.analysis.lm_baselines import language_model_baselines
from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import PAD_ID, TextDataModule
from attn_project.data.running_text import LM_SPECIALS


def neighbours(sentences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left word, right word, word) of every word of the sentences; -1 where there is none."""
    left, right, word = [], [], []
    for s in sentences:
        s = s.astype(np.int64)
        word.append(s)
        left.append(np.concatenate([[-1], s[:-1]]))
        right.append(np.concatenate([s[1:], [-1]]))
    return np.concatenate(left), np.concatenate(right), np.concatenate(word)


def scored_positions(dm: TextDataModule) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(left, right, word) at the test split's scored positions, from the unmasked sentences."""
    assert dm.arrays is not None
    rows = np.concatenate(dm.length_sorted("test"))  # the order the test batches were made in
    lefts, rights, words = [], [], []
    offset = 0
    for batch in dm.eval_batches["test"]:
        labels = batch["labels"]
        for i in range(labels.size(0)):
            sentence = dm.arrays.sentence(int(rows[offset + i])).astype(np.int64)
            positions = torch.nonzero(labels[i] != IGNORE).flatten().numpy()
            if dm.objective == "causal":  # position t predicts the word at t + 1 from the word at t
                lefts.append(sentence[positions])
                rights.append(np.full(len(positions), -1))
                words.append(sentence[positions + 1])
            else:
                padded = np.concatenate([[-1], sentence, [-1]])
                lefts.append(padded[positions])
                rights.append(padded[positions + 2])
                words.append(sentence[positions])
        offset += labels.size(0)
    return np.concatenate(lefts), np.concatenate(rights), np.concatenate(words)


def text_baselines(dm: TextDataModule) -> dict:
    """``{name: {acc, top5_acc, perplexity}}`` on the test positions; a causal LM's are the unigram
    and the left bigram (it cannot see the right)."""
    assert dm.arrays is not None
    train = [dm.arrays.sentence(int(k)) for k in dm.splits["train"]]
    left, right, word = neighbours(train)
    if dm.objective == "mlm":  # fitted on the words a masked position can hold ([UNK] never is one)
        words = word >= len(LM_SPECIALS)
        left, right, word = left[words], right[words], word[words]
    test_left, test_right, test_word = scored_positions(dm)
    if dm.objective == "causal":
        right, test_right = np.full_like(right, -1), np.full_like(test_right, -1)
    scores = language_model_baselines(left, right, word, test_left, test_right, test_word, dm.vocab_size)
    if dm.objective == "causal":
        scores.pop("bigram")  # with no right word it is the left bigram again
    assert PAD_ID not in set(test_word.tolist())
    return scores
