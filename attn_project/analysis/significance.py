"""Uncertainty for one run: a seeded bootstrap over sentences (rows of one sentence are not
independent, so sentences are resampled, not rows), a paired test over rows clustered by
sentence, and the Benjamini–Hochberg correction across the relations of a table (scipy)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy import stats

from attn_project.analysis.report_schema import Classification, Estimate

RESAMPLES = 1000
ALPHA = 0.05
MIN_ROWS_FOR_VERDICT = 50
CORRECTION = "benjamini-hochberg"
RELATION_TEST = "paired, clustered by sentence (cluster-robust z)"


class Bootstrap:
    """One set of resampled sentences, reused for every statistic (so differences are paired)."""

    def __init__(self, sentence: np.ndarray, resamples: int = RESAMPLES, seed: int = 0):
        ids, self.index = np.unique(sentence, return_inverse=True)
        self.num_sentences = len(ids)
        self.draws = draws(len(ids), resamples, seed)  # [R, S]

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

    def estimate(self, values: np.ndarray, rows: np.ndarray | None = None) -> Estimate:
        """``mean`` as an Estimate."""
        return Estimate.of(*self.mean(values, rows))

    def statistic(self, fn: Callable[..., np.ndarray], *columns: np.ndarray
                  ) -> tuple[float, list[float] | None]:
        """fn of per-row columns' totals (e.g. true positives), and its interval: ``fn`` takes
        arrays of totals, one per column, and works elementwise."""
        sums = [self.sentence_sums(c)[0] for c in columns]
        estimate = fn(*(np.array([s.sum()]) for s in sums))[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            resampled = fn(*(self.draws @ s for s in sums))
        return float(estimate), interval(resampled)


@functools.lru_cache(maxsize=8)
def draws(num_sentences: int, resamples: int, seed: int) -> np.ndarray:
    """How often each sentence is drawn in each resample, [R, S] (read-only): the same for every
    Bootstrap of a split — the report's sections, the interventions and the effective block build
    one each and share the draws, so their intervals stay paired and are drawn once."""
    rng = np.random.default_rng(seed)
    uniform = np.full(num_sentences, 1 / num_sentences)
    out = rng.multinomial(num_sentences, uniform, size=resamples).astype(float)
    out.flags.writeable = False
    return out


def interval(resampled: np.ndarray) -> list[float] | None:
    resampled = resampled[np.isfinite(resampled)]
    if not len(resampled):
        return None
    return [float(x) for x in np.percentile(resampled, [2.5, 97.5])]


def clustered_greater(hits: np.ndarray, other_hits: np.ndarray, sentence: np.ndarray) -> float:
    """One-sided p-value that ``hits`` beats ``other_hits`` on the same rows, rows clustered by
    sentence: the mean paired difference over its cluster-robust standard error (the ratio
    estimator's linearised variance, what a bootstrap over sentences estimates), against N(0, 1).
    Rows of one sentence share its words, so they are not independent draws (McNemar's test, used
    before, treated them as such)."""
    diff = hits.astype(float) - other_hits.astype(float)
    _, index = np.unique(sentence, return_inverse=True)
    sums, counts = np.bincount(index, weights=diff), np.bincount(index).astype(float)  # per sentence
    clusters, total = len(sums), counts.sum()
    if total == 0:
        return 1.0
    mean = sums.sum() / total
    residual = sums - mean * counts  # [S]
    variance = clusters / max(clusters - 1, 1) * float((residual ** 2).sum()) / total ** 2
    if variance == 0:
        return 0.0 if mean > 0 else 1.0
    return float(stats.norm.sf(mean / np.sqrt(variance)))


def adjust(pvalues: list[float]) -> list[float]:
    """Benjamini–Hochberg adjusted p-values (scipy.stats.false_discovery_control)."""
    return [float(p) for p in stats.false_discovery_control(pvalues, method="bh")] if pvalues else []


def classification(predicted: np.ndarray, label: np.ndarray, boot: Bootstrap,
                   class_names: list[str] | None = None) -> Classification:
    """The test block: two classes as ``binary``; more as ``multiclass``."""
    names = class_names or ["function", "content"]
    scores = (binary(predicted, label, boot) if len(names) == 2
              else multiclass(predicted, label, boot, len(names)))
    return Classification(**scores, **class_table(predicted, label, boot, names))


def binary(predicted: np.ndarray, label: np.ndarray, boot: Bootstrap) -> dict:
    """Accuracy, F1 of the content class, balanced accuracy, macro-F1 and content share, each
    with its bootstrap interval (from per-row predictions and labels)."""
    tp, fp = (predicted == 1) & (label == 1), (predicted == 1) & (label == 0)
    fn, tn = (predicted == 0) & (label == 1), (predicted == 0) & (label == 0)
    formulas = {
        "acc": lambda tp, fp, fn, tn: (tp + tn) / (tp + fp + fn + tn),
        "f1": lambda tp, fp, fn, tn: 2 * tp / (2 * tp + fp + fn),
        "balanced_acc": lambda tp, fp, fn, tn: (tp / (tp + fn) + tn / (tn + fp)) / 2,
        "macro_f1": lambda tp, fp, fn, tn: (2 * tp / (2 * tp + fp + fn) + 2 * tn / (2 * tn + fn + fp)) / 2,
        "content_share": lambda tp, fp, fn, tn: (tp + fn) / (tp + fp + fn + tn),
    }
    return {name: Estimate.of(*boot.statistic(formula, tp, fp, fn, tn)) for name, formula in formulas.items()}


def multiclass(predicted: np.ndarray, label: np.ndarray, boot: Bootstrap, num_classes: int) -> dict:
    """Accuracy, balanced accuracy (mean recall over the classes with test targets) and macro-F1
    (over the same classes), each with its bootstrap interval over sentences. Per-class counts
    are sentence × class sparse matrices (a row touches one or two classes), so a resample's
    totals are one sparse product however many classes there are (the word task has ~1,000)."""
    right = predicted == label

    def per_sentence(classes: np.ndarray, rows: np.ndarray) -> sp.csr_matrix:
        """[S, K]: in each sentence, how many of ``rows`` fall in each class."""
        return sp.csr_matrix((np.ones(int(rows.sum())), (boot.index[rows], classes[rows])),
                             shape=(boot.num_sentences, num_classes))

    counts = {"tp": per_sentence(label, right), "fp": per_sentence(predicted, ~right),
              "fn": per_sentence(label, ~right)}
    full = {name: np.asarray(m.sum(0))[0][:, None] for name, m in counts.items()}  # [K, 1]
    resampled = {name: np.asarray(m.T @ boot.draws.T) for name, m in counts.items()}  # [K, R]

    def scores(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, np.ndarray]:
        with np.errstate(invalid="ignore", divide="ignore"):
            present = tp + fn > 0
            return {"acc": tp.sum(0) / (tp + fn).sum(0),
                    "balanced_acc": np.nanmean(np.where(present, tp / (tp + fn), np.nan), 0),
                    "macro_f1": np.nanmean(np.where(present, 2 * tp / (2 * tp + fp + fn), np.nan), 0)}

    point, drawn = scores(**full), scores(**resampled)
    return {name: Estimate.of(float(point[name][0]), interval(drawn[name])) for name in point}


def class_table(predicted: np.ndarray, label: np.ndarray, boot: Bootstrap, names: list[str]) -> dict:
    """The majority class's share of the test targets (with its interval), and per class its
    recall and support."""
    support = np.bincount(label, minlength=len(names))
    majority = int(support.argmax())
    share = boot.estimate((label == majority).astype(float))
    hits = np.bincount(label[predicted == label], minlength=len(names))
    per_class = {name: {"support": int(n), "recall": float(hits[k] / n) if n else None}
                 for k, (name, n) in enumerate(zip(names, support))}
    return {"majority_class": names[majority], "majority_share": share, "per_class": per_class}
