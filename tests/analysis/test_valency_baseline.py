"""The valency baseline reads the gold tree only (a word's number of dependents, root), and the
class-balanced fits weigh a rare class up: each on a planted split with a known answer."""

import torch

from attn_project.analysis.baselines import task_baselines, valency_features
from attn_project.data.batches import SplitTensors

VOCAB = 23


def planted(n: int, seed: int, label: str) -> SplitTensors:
    """Random words under random trees; label: the word has a dependent (``valency``), or a skewed
    class (1 in ~1 of 10 words) carried by its left neighbour's word (``skewed``)."""
    g = torch.Generator().manual_seed(seed)
    ids, labels, heads = [], [], []
    for _ in range(n):
        length = int(torch.randint(4, 10, (1,), generator=g))
        order = torch.randperm(length, generator=g).tolist()
        head = [-1] * length
        for k, i in enumerate(order[1:], 1):
            head[i] = order[int(torch.randint(0, k, (1,), generator=g))]
        words = torch.randint(3, VOCAB, (length,), generator=g).tolist()
        if label == "valency":
            labels.append([int(i in head) for i in range(length)])
        else:  # class 1 after word 3 (≈ 1 in 20), else after word 4 half the time; otherwise 0
            noise = torch.rand(length, generator=g).tolist()
            labels.append([int(i > 0 and (words[i - 1] == 3 or (words[i - 1] == 4 and noise[i] < 0.5)))
                           for i in range(length)])
        ids.append(words)
        heads.append(head)
    return SplitTensors.build(ids, labels, heads, [[0] * len(w) for w in ids],
                              [[False] * len(w) for w in ids])


def test_valency_features_count_dependents_and_mark_the_root():
    split = SplitTensors.build([[5, 6, 7, 8]], [[0, 1, 1, 0]], [[1, -1, 1, 1]], [[0] * 4], [[False] * 4])
    features = valency_features(split).toarray()  # columns: 0, 1, 2, 3+ dependents, root
    assert features.tolist() == [[1, 0, 0, 0, 0], [0, 0, 0, 1, 1], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]]


def test_the_valency_baseline_reads_a_label_that_is_the_words_valency_and_the_bigram_cannot():
    out = task_baselines(planted(600, 1, "valency"), planted(300, 2, "valency"), VOCAB)
    assert out["valency"]["acc"] > 0.99  # the label is the feature (measured 1.0)
    assert out["bigram"]["balanced_acc"] < 0.6  # random neighbours: near chance


def test_class_balanced_fits_raise_the_balanced_accuracy_on_a_skewed_split():
    out = task_baselines(planted(800, 3, "skewed"), planted(400, 4, "skewed"), VOCAB)
    assert out["majority"]["acc"] > 0.85  # skewed: ~93 % class 0
    assert out["bigram_class_balanced"]["balanced_acc"] > out["bigram"]["balanced_acc"] + 0.05  # 0.99 vs 0.88
