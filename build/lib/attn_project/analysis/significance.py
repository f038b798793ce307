"""Uncertainty for one run: a seeded bootstrap over sentences (rows of one sentence are not
independent, so sentences are resampled, not rows), McNemar's exact test for paired rows, and
the Benjamini–Hochberg correction across the relations of a table (scipy)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

RESAMPLES = 1000
ALPHA = 0.05
MIN_ROWS_FOR_VERDICT = 50
CORRECTION = "benjamini-hochberg"


class Bootstrap:
    """One set of resampled sentences, reused for every statistic (so differences are paired)."""

    def __init__(self, sentence: np.ndarray, resamples: int = RESAMPLES, seed: int = 0):
        ids, self.index = np.unique(sentence, return_inverse=True)
        self.num_sentences = len(ids)
        rng = np.random.default_rng(seed)
        # how often each sentence is drawn in each resample: [R, S]
        uniform = np.full(len(ids), 1 / len(ids))
        self.draws = rng.multinomial(len(ids), uniform, size=resamples).astype(float)

    def sentence_sums(self, values: np.ndarray, rows: np.ndarray | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
        """Per sentence: the sum of ``values`` over the chosen rows, and their number."""
        rows = np.ones(len(values), bool) if rows is None else rows
        sums = np.bincount(self.index[rows], weights=values[rows].astype(float), minlength=self.num_sentences)
        return sums, np.bincount(self.index[rows], minlength=self.num_sentences).astype(float)

    def mean(self, values: np.ndarray, rows: np.ndarray | None = None) -> tuple[float | None, list | None]:
        """(mean over the rows, its 95% percentile interval) — (None, None) without rows."""
        sums, counts = self.sentence_sums(values, rows)
        if counts.sum() == 0:
            return None, None
        with np.errstate(invalid="ignore", divide="ignore"):
            resampled = (self.draws @ sums) / (self.draws @ counts)  # [R]
        return float(sums.sum() / counts.sum()), interval(resampled)

    def statistic(self, fn: Callable[..., np.ndarray], *columns: np.ndarray
                  ) -> tuple[float, list[float] | None]:
        """fn of per-row columns' totals (e.g. true positives), and its interval: ``fn`` takes
        arrays of totals, one per column, and works elementwise."""
        sums = [self.sentence_sums(c)[0] for c in columns]
        estimate = fn(*(np.array([s.sum()]) for s in sums))[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            resampled = fn(*(self.draws @ s for s in sums))
        return float(estimate), interval(resampled)


def interval(resampled: np.ndarray) -> list[float] | None:
    resampled = resampled[np.isfinite(resampled)]
    if not len(resampled):
        return None
    return [float(x) for x in np.percentile(resampled, [2.5, 97.5])]


def mcnemar_greater(hits: np.ndarray, other_hits: np.ndarray) -> float:
    """One-sided exact McNemar p-value that ``hits`` beats ``other_hits`` on the same rows."""
    better, worse = int((hits & ~other_hits).sum()), int((~hits & other_hits).sum())
    if better + worse == 0:
        return 1.0
    return float(stats.binomtest(better, better + worse, 0.5, alternative="greater").pvalue)


def adjust(pvalues: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (scipy.stats.false_discovery_control)."""
    return [float(p) for p in stats.false_discovery_control(pvalues, method="bh")] if pvalues else []


def classification(correct: np.ndarray, label: np.ndarray, boot: Bootstrap) -> dict:
    """Accuracy, F1 of the content class, balanced accuracy, macro-F1 and content share, each
    with its bootstrap interval (from per-row correctness and labels)."""
    predicted = np.where(correct, label, 1 - label)
    tp, fp = (predicted == 1) & (label == 1), (predicted == 1) & (label == 0)
    fn, tn = (predicted == 0) & (label == 1), (predicted == 0) & (label == 0)
    formulas = {
        "acc": lambda tp, fp, fn, tn: (tp + tn) / (tp + fp + fn + tn),
        "f1": lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn),
        "balanced_acc": lambda tp, fp, fn, tn: (tp / (tp + fn) + tn / (tn + fp)) / 2,
        "macro_f1": lambda tp, fp, fn, tn: (2 * tp / (2 * tp + fp + fn) + 2 * tn / (2 * tn + fn + fp)) / 2,
        "content_share": lambda tp, fp, fn, tn: (tp + fn) / (tp + fp + fn + tn),
    }
    out: dict[str, float | list[float] | None] = {}
    for name, formula in formulas.items():
        out[name], out[f"{name}_ci95"] = boot.statistic(formula, tp, fp, fn, tn)
    return out
