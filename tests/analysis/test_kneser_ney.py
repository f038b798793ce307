"""The vectorised Kneser–Ney trigram against NLTK's, and its two readings (next word, word between)."""

import numpy as np
import pytest

from attn_project.analysis.kneser_ney import BOS, EOS, KneserNeyTrigram


def corpus(seed=0, sentences=60, vocab=12):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, vocab, size=rng.integers(1, 9)) for _ in range(sentences)], vocab


def test_scores_equal_nltks_with_its_settings():
    from nltk.lm import KneserNeyInterpolated
    from nltk.util import everygrams

    sentences, vocab = corpus()
    name = {BOS: "<s>", EOS: "</s>"}
    padded = [[name.get(w, str(w)) for w in [BOS, BOS, *s.tolist(), EOS]] for s in sentences]
    reference = KneserNeyInterpolated(3, discount=0.1)
    reference.fit([list(everygrams(p, max_len=3)) for p in padded], [w for p in padded for w in p])
    ours = KneserNeyTrigram(sentences, vocab, discount=0.1, as_nltk=True)
    rng = np.random.default_rng(1)
    a = np.concatenate([[BOS, BOS, 3], rng.integers(0, vocab, 30)])
    b = np.concatenate([[BOS, 5, 4], rng.integers(0, vocab, 30)])
    ours_rows = ours.next_word(a, b)
    for x, y, row in zip(a.tolist(), b.tolist(), ours_rows, strict=True):
        for w in [*range(vocab), EOS]:
            expected = reference.score(name.get(w, str(w)), [name.get(x, str(x)), name.get(y, str(y))])
            assert row[ours.ids(np.array([w]))[0]] == pytest.approx(expected, rel=1e-9)


def test_the_standard_settings_give_distributions_and_prefer_what_was_seen():
    sentences, vocab = corpus(sentences=300)
    model = KneserNeyTrigram(sentences, vocab)
    assert all(0 < d < 1 for d in model.discounts)
    rows = model.next_word(np.array([BOS, 2, 7]), np.array([BOS, 3, 9]))
    assert rows[:, :vocab + 1].sum(axis=1) == pytest.approx(np.ones(3))  # words and EOS; BOS never follows
    fixed = [np.array([1, 2, 3, 4])] * 50 + sentences
    model = KneserNeyTrigram(fixed, vocab)
    assert model.next_word(np.array([1]), np.array([2]))[0].argmax() == 3


def test_the_word_between_is_the_sentence_probability_of_each_candidate():
    sentences, vocab = corpus(sentences=200)
    model = KneserNeyTrigram(sentences, vocab)
    l2, l1, r1, r2 = np.array([BOS, 4]), np.array([3, 5]), np.array([6, EOS]), np.array([EOS, EOS])
    between = model.word_between(l2, l1, r1, r2)
    for k, (x, y, z, u) in enumerate(zip(l2, l1, r1, r2, strict=True)):
        for w in range(vocab):  # the product of the three trigrams that contain w, read one at a time
            p = model.next_word(np.array([x]), np.array([y]))[0, w]
            p *= model.next_word(np.array([y]), np.array([w]))[0, model.ids(np.array([z]))[0]]
            if z != EOS:
                p *= model.next_word(np.array([w]), np.array([z]))[0, model.ids(np.array([u]))[0]]
            assert between[k, w] == pytest.approx(p, rel=1e-9)
