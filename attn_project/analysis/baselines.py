"""Task baselines on the same splits: yardsticks for the classifier's accuracy.

- majority: always the most frequent class of the train split;
- bigram: logistic regression on the word left and the word right of the mask, each side with
  its own weights (it knows which side a word stood on);
- bag_of_neighbours: the same two words sharing one weight per word (the side is lost) — what
  one attention head, a weighted average of value vectors, can see at best from two neighbours.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression

from attn_project.data.batches import SplitTensors


def neighbours(split: SplitTensors) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every target: (left word id, right word id, label); -1 where the sentence ends."""
    sentence, position = split.examples()
    left = np.where(position > 0, split.ids[sentence, (position - 1).clamp_min(0)], -1)
    right_pos = position + 1
    inside = right_pos < split.lengths[sentence]
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


def task_baselines(train: SplitTensors, test: SplitTensors, vocab_size: int, seed: int = 0) -> dict:
    """Accuracy of the three baselines on ``test``, fitted on ``train``."""
    left_tr, right_tr, y_tr = neighbours(train)
    left_te, right_te, y_te = neighbours(test)
    majority = int(np.bincount(y_tr, minlength=2).argmax())
    out = {"majority": {"acc": float((y_te == majority).mean()), "class": majority}}
    for name, ordered in (("bigram", True), ("bag_of_neighbours", False)):
        clf = LogisticRegression(max_iter=300, C=1.0, random_state=seed)
        clf.fit(features(left_tr, right_tr, vocab_size, ordered), y_tr)
        predicted = clf.predict(features(left_te, right_te, vocab_size, ordered))
        out[name] = {"acc": float((predicted == y_te).mean())}
    return out
