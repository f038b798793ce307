"""Language-model baselines of the word task, fitted on train and scored on test targets: a unigram,
the left word → the word (``left_bigram``), and both neighbours, ordered (``bigram``: the left and
the right word, as the other tasks' ordered bigram reads them) — so "beats the bigram" means the
same here as elsewhere. Smoothing is Witten–Bell (no parameter to tune): a context seen with T
distinct words in n tokens gives its counts weight n / (n + T) and the model below it T / (n + T);
``bigram`` backs off to ``left_bigram``, which backs off to the unigram, which is add-one.

Each reports top-1 (``acc``) and top-5 accuracy and perplexity (exp of the mean negative log
probability of the right word), the numbers the word task's runs log.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence

import numpy as np

TOP_K = 5


class WittenBell:
    """P(word | context) over ``classes`` words, backed off to a lower model's distribution."""

    def __init__(self, contexts: Sequence[Hashable], words: np.ndarray, classes: int):
        self.counts: dict[Hashable, Counter] = defaultdict(Counter)
        for context, word in zip(contexts, words.tolist(), strict=True):
            self.counts[context][word] += 1
        self.classes = classes

    def distribution(self, context: Hashable, lower: np.ndarray) -> np.ndarray:
        seen = self.counts.get(context)
        if not seen:
            return lower
        total, distinct = sum(seen.values()), len(seen)
        out = lower * (distinct / (total + distinct))
        words = np.fromiter(seen.keys(), dtype=np.int64)
        out[words] += np.fromiter(seen.values(), dtype=np.float64) / (total + distinct)
        return out


def unigram(words: np.ndarray, classes: int) -> np.ndarray:
    """Add-one unigram probabilities [classes]."""
    counts = np.bincount(words, minlength=classes).astype(np.float64) + 1.0
    return counts / counts.sum()


def top_and_probability(probabilities: np.ndarray, truth: int) -> tuple[bool, bool, float]:
    """(truth is the most probable, among the five most probable, its probability)."""
    k = min(TOP_K, len(probabilities))
    top = np.argpartition(-probabilities, k - 1)[:k]  # the five most probable, unordered
    best = int(top[np.argmax(probabilities[top])])
    return best == truth, bool((top == truth).any()), float(probabilities[truth])


def language_model_baselines(left_train: np.ndarray, right_train: np.ndarray, y_train: np.ndarray,
                             left_test: np.ndarray, right_test: np.ndarray, y_test: np.ndarray,
                             classes: int) -> dict:
    """The three models' scores on the test targets (-1: no word on that side, a context too)."""
    base = unigram(y_train, classes)
    left_model = WittenBell(left_train.tolist(), y_train, classes)
    pairs = list(zip(left_train.tolist(), right_train.tolist(), strict=True))
    both_model = WittenBell(pairs, y_train, classes)
    results: dict[str, list[tuple[bool, bool, float]]] = {"unigram": [], "left_bigram": [], "bigram": []}
    for left, right, truth in zip(left_test.tolist(), right_test.tolist(), y_test.tolist(), strict=True):
        given_left = left_model.distribution(left, base)
        results["unigram"].append(top_and_probability(base, truth))
        results["left_bigram"].append(top_and_probability(given_left, truth))
        given_both = both_model.distribution((left, right), given_left)
        results["bigram"].append(top_and_probability(given_both, truth))
    out = {}
    for name, rows in results.items():
        first, five, probability = (np.array(column) for column in zip(*rows, strict=True))
        out[name] = {"acc": float(first.mean()), "top5_acc": float(five.mean()),
                     "perplexity": float(np.exp(-np.log(probability).mean()))}
    return out
