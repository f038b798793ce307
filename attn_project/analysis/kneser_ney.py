"""An interpolated Kneser–Ney trigram (Chen & Goodman 1999), vectorised over the vocabulary so a
baseline can rank every word at every test position: the next word from the two before it (a
causal LM's baseline) and a masked word from the two words on each side (the masked LM's: the
three trigrams that contain it, multiplied — the sentence's probability with that word in place).

The maths of ``nltk.lm.KneserNeyInterpolated`` (a test checks the scores equal NLTK's with
``as_nltk=True, discount=0.1``: its one discount, its undiscounted continuation unigram, its
padding bigram), with the standard choices by default: one discount per order, n1 / (n1 + 2 n2),
and the continuation unigram interpolated with the uniform one, so every word has some probability.
NLTK itself scores one word per call in Python (0.14 s a call here), too slow to rank 8,000 words at
100,000 positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

BOS, EOS = -1, -2  # sentence boundaries, as contexts (BOS) and as the word after the last (EOS)


def _discount(counts: np.ndarray) -> float:
    """Chen & Goodman's single discount n1 / (n1 + 2 n2) from the counts of one order."""
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.5


def _unique_counts(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.unique(keys, return_counts=True)


class _PairRows:
    """A sparse matrix whose rows are word pairs (keys a·S + b), stored only for the pairs seen."""

    def __init__(self, pair_keys: np.ndarray, columns: np.ndarray, values: np.ndarray, width: int):
        self.keys, rows = np.unique(pair_keys, return_inverse=True)
        # one all-zero row past the seen pairs, for every pair never seen
        self.matrix = sp.csr_matrix((values, (rows, columns)), shape=(len(self.keys) + 1, width))

    def rows(self, pair_keys: np.ndarray) -> np.ndarray:
        """The rows of these pairs, dense [len(pair_keys), width]."""
        at = np.minimum(np.searchsorted(self.keys, pair_keys), len(self.keys) - 1)
        at[self.keys[at] != pair_keys] = len(self.keys)
        return self.matrix[at].toarray()


class KneserNeyTrigram:
    """P(w | a, b) over ``vocab_size`` word ids and the end of the sentence, from id sentences."""

    def __init__(self, sentences: Sequence[np.ndarray], vocab_size: int,
                 discount: float | None = None, as_nltk: bool = False):
        self.vocab_size = vocab_size
        self.symbols = vocab_size + 2  # the words, EOS (id vocab_size), BOS (id vocab_size + 1)
        a, b, c = self._trigrams(sentences)
        s = self.symbols
        tri_keys, tri_counts = _unique_counts((a * s + b) * s + c)  # c(abc)
        ta, tb, tc = tri_keys // (s * s), (tri_keys // s) % s, tri_keys % s
        bigram_keys, _ = _unique_counts(np.concatenate([a * s + b, b * s + c]))  # every padded bigram
        if not as_nltk:  # NLTK counts the padding's (BOS, BOS) as a bigram, and then sums past 1 after BOS
            bigram_keys = bigram_keys[bigram_keys != (vocab_size + 1) * (s + 1)]
        cont_keys, cont_counts = _unique_counts(tb * s + tc)  # N1+(• b c)
        cb, cc = cont_keys // s, cont_keys % s
        unigram_cont = np.bincount(bigram_keys % s, minlength=s).astype(np.float64)  # N1+(• c)
        d3, d2, d1 = ((discount,) * 3 if discount is not None else
                      (_discount(tri_counts), _discount(cont_counts),
                       _discount(unigram_cont[unigram_cont > 0])))
        self.discounts = (d1, d2, d3)
        # the lowest order: the continuation unigram N1+(• c) / N1+(• •), discounted and interpolated
        # with the uniform over the words and EOS (BOS never follows), or undiscounted as NLTK has it
        total = unigram_cont.sum()
        if not as_nltk:
            uniform = np.full(s, 1.0 / (s - 1))
            uniform[vocab_size + 1] = 0.0
            share = d1 * (unigram_cont > 0).sum() / total  # the mass the discount frees
            self.p1 = np.maximum(unigram_cont - d1, 0) / total + share * uniform
        else:
            self.p1 = unigram_cont / total
        # the middle order, context b: max(N1+(•bc) − D, 0) / N1+(•b•) + γ(b) P1(c)
        cont_total = np.bincount(cb, weights=cont_counts, minlength=s)
        types_after = np.bincount(bigram_keys // s, minlength=s).astype(np.float64)  # |{c: c(bc) > 0}|
        seen_b = cont_total > 0
        self.gamma2 = np.ones(s)
        self.gamma2[seen_b] = d2 * types_after[seen_b] / cont_total[seen_b]
        alpha2 = np.maximum(cont_counts - d2, 0) / cont_total[cb]
        self.alpha2 = sp.csr_matrix((alpha2, (cb, cc)), shape=(s, s))  # [b, c]
        self.alpha2_by_word = self.alpha2.tocsc()
        # the top order, context (a, b): max(c(abc) − D, 0) / c(ab•) + γ(ab) P2(c | b)
        pairs, pair_of = np.unique(ta * s + tb, return_inverse=True)
        pair_total = np.bincount(pair_of, weights=tri_counts)  # c(ab•) per seen pair
        pair_types = np.bincount(pair_of).astype(np.float64)  # |{c: c(abc) > 0}|
        alpha3 = np.maximum(tri_counts - d3, 0) / pair_total[pair_of]
        self.alpha3_after = _PairRows(ta * s + tb, tc, alpha3, s)  # [ab, c]
        self.alpha3_middle = _PairRows(ta * s + tc, tb, alpha3, s)  # [ac, b]
        self.alpha3_before = _PairRows(tb * s + tc, ta, alpha3, s)  # [bc, a]
        gamma3_minus_one = d3 * pair_types / pair_total - 1.0
        pa, pb = pairs // s, pairs % s
        self.gamma3_minus_one = sp.csr_matrix((gamma3_minus_one, (pa, pb)), shape=(s, s))  # [a, b]; 0: unseen
        self.gamma3_minus_one_by_b = self.gamma3_minus_one.tocsc()

    def _trigrams(self, sentences: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every trigram of the sentences padded BOS BOS … EOS, as three id columns."""
        columns: list[list[np.ndarray]] = [[], [], []]
        for sentence in sentences:
            padded = self.ids(np.concatenate([[BOS, BOS], np.asarray(sentence, dtype=np.int64), [EOS]]))
            for k in range(3):
                columns[k].append(padded[k:len(padded) - 2 + k])
        a, b, c = (np.concatenate(column) for column in columns)
        return a, b, c

    def ids(self, words: np.ndarray) -> np.ndarray:
        """Word ids with BOS and EOS mapped to their symbol ids."""
        words = np.asarray(words, dtype=np.int64).copy()
        words[words == EOS] = self.vocab_size
        words[words == BOS] = self.vocab_size + 1
        return words

    def middle_order(self, b: np.ndarray) -> np.ndarray:
        """P2(· | b) [len(b), symbols]."""
        return self.alpha2[b].toarray() + self.gamma2[b, None] * self.p1[None, :]

    def next_word(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """P(· | a, b) [len(a), symbols], every word and EOS."""
        a, b = self.ids(a), self.ids(b)
        gamma = 1.0 + self.gamma3_minus_one[a, b].A1  # γ(ab), 1 for a pair never seen
        return self.alpha3_after.rows(a * self.symbols + b) + gamma[:, None] * self.middle_order(b)

    def word_between(self, l2: np.ndarray, l1: np.ndarray, r1: np.ndarray, r2: np.ndarray) -> np.ndarray:
        """P(l2 l1 w r1 r2) up to a constant, for every word w [len(l1), vocab_size]: the product of
        the three trigrams that contain w; r1 = EOS for the last word (then r2 is not read), r2 = EOS
        for the last but one."""
        s, words = self.symbols, self.vocab_size
        left = self.next_word(l2, l1)[:, :words]
        l1, r1, r2 = self.ids(l1), self.ids(r1), self.ids(r2)
        # P(r1 | l1, w) for every w: α3(l1 w r1) + γ(l1 w) P2(r1 | w)
        p2_r1 = self.alpha2_by_word[:, r1].toarray().T + self.gamma2[None, :] * self.p1[r1, None]  # [n, s]
        gamma_l1 = 1.0 + self.gamma3_minus_one[l1].toarray()  # [n, s], over w
        middle = self.alpha3_middle.rows(l1 * s + r1) + gamma_l1 * p2_r1
        # P(r2 | w, r1) for every w: α3(w r1 r2) + γ(w r1) P2(r2 | r1); 1 where r1 ends the sentence
        gamma_r1 = 1.0 + self.gamma3_minus_one_by_b[:, r1].toarray().T  # [n, s], over w
        p2_r2 = self.alpha2[r1, r2].A1 + self.gamma2[r1] * self.p1[r2]  # [n]
        right = self.alpha3_before.rows(r1 * s + r2) + gamma_r1 * p2_r2[:, None]
        right[r1 == self.vocab_size] = 1.0
        return left * middle[:, :words] * right[:, :words]
