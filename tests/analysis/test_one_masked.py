"""A masked LM read one word masked at a time: each scored word alone masked, the rest of its sentence
as the text has it, at the standard test's own positions."""

import numpy as np
import pytest
import torch

from attn_project.analysis.one_masked import one_masked_rows, one_masked_scores
from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import MASK_ID, PAD_ID
from attn_project.model.encoder import EncoderConfig
from attn_project.model.language_model import LanguageModel

TEXT = torch.tensor([[5, 6, 7, 8, 9], [10, 11, 12, PAD_ID, PAD_ID]])  # [B, T]


def masked_batch(positions):
    """TEXT with the given (row, position) pairs masked and scored, as the test batches are."""
    ids, labels = TEXT.clone(), torch.full_like(TEXT, IGNORE)
    for row, at in positions:
        ids[row, at], labels[row, at] = MASK_ID, TEXT[row, at]
    return {"ids": ids, "labels": labels}


def tiny_model(causal=False):
    torch.manual_seed(0)
    config = EncoderConfig(vocab_size=16, max_len=8, d_model=16, num_heads=2, num_layers=2, dropout=0.0,
                           causal=causal)
    return LanguageModel(config).eval()


def test_each_scored_word_gets_a_row_of_its_sentence_with_only_it_masked():
    ids, row, position, truth = one_masked_rows(masked_batch([(0, 1), (0, 3), (1, 0)]))
    assert row.tolist() == [0, 0, 1] and position.tolist() == [1, 3, 0] and truth.tolist() == [6, 8, 10]
    assert ids.tolist() == [[5, MASK_ID, 7, 8, 9], [5, 6, 7, MASK_ID, 9], [MASK_ID, 11, 12, PAD_ID, PAD_ID]]


def test_with_one_scored_word_a_sentence_it_equals_the_standard_reading():
    batch = masked_batch([(0, 2), (1, 1)])
    model = tiny_model()
    scored = batch["labels"] != IGNORE
    with torch.no_grad():
        logits = model.scored_logits(batch["ids"], scored)  # [2, V]: the standard test's reading
    nll = torch.nn.functional.cross_entropy(logits, batch["labels"][scored])
    scores = one_masked_scores(model, [batch], chunk=1)
    assert scores["scored"] == 2
    assert scores["perplexity"] == pytest.approx(float(torch.exp(nll)), rel=1e-5)
    assert scores["top1"] == float((logits.argmax(-1) == batch["labels"][scored]).float().mean())


def test_two_masked_neighbours_are_read_apart():
    both = masked_batch([(0, 1), (0, 2)])  # the standard reading hides each one's neighbour
    ids, _, _, _ = one_masked_rows(both)
    alone, _, _, _ = one_masked_rows(masked_batch([(0, 1)]))
    assert torch.equal(ids[0], alone[0])  # word 6's row: only it masked, word 7 visible
    model = tiny_model()
    with torch.no_grad():
        together = model.scored_logits(both["ids"], both["labels"] != IGNORE)[0]  # word 7 hidden too
        apart = model.scored_logits(ids[:1], ids[:1] == MASK_ID)[0]
    assert not torch.allclose(together, apart)  # the two readings differ where a neighbour was hidden


def test_the_paired_difference_and_its_interval_pair_each_word_with_itself():
    from attn_project.commands.train_lm import DIFFERENCE, one_masked_minus_trigram

    one = {"hits": np.array([True, True, False, False]), "truth": np.array([5, 6, 7, 8]),
           "sentence": np.array([0, 0, 1, 1])}
    same = one_masked_minus_trigram(one, one["hits"].copy(), one["truth"])
    assert same[DIFFERENCE] == 0 and same[f"{DIFFERENCE}_ci95_low"] == same[f"{DIFFERENCE}_ci95_high"] == 0
    better = one_masked_minus_trigram(one, np.array([False, True, False, False]), one["truth"])
    assert better[DIFFERENCE] == pytest.approx(0.25)
    assert 0 <= better[f"{DIFFERENCE}_ci95_low"] <= 0.25 <= better[f"{DIFFERENCE}_ci95_high"]
    with pytest.raises(ValueError, match="test words differ"):
        one_masked_minus_trigram(one, one["hits"], np.array([5, 6, 8, 7]))


def test_each_scored_word_keeps_its_sentence_and_word_for_pairing_across_batches():
    scores = one_masked_scores(tiny_model(), [masked_batch([(0, 1), (0, 3), (1, 0)]), masked_batch([(1, 2)])])
    assert scores["sentence"].tolist() == [0, 0, 1, 3]  # the second batch's rows come after the first's
    assert scores["truth"].tolist() == [6, 8, 10, 12] and len(scores["hits"]) == 4
    assert scores["top1"] == pytest.approx(scores["hits"].mean())


def test_a_causal_model_is_refused():
    with pytest.raises(ValueError, match="masked LM"):
        one_masked_scores(tiny_model(causal=True), [masked_batch([(0, 1)])])
