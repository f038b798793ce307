"""The structure-only control (``model.values=offsets``): an oracle's rows with values that carry
no word, only where each key lies. On a corpus whose label is the word's valency it reaches ~1.0
(the row's shape is the label); where the label is a coin flip it stays at chance."""

import pytest
import torch
from helpers import train_and_score

from attn_project.data.batches import SentenceBatches, SplitTensors
from attn_project.errors import ConfigError
from attn_project.model import MaskedTokenClassifier, ModelConfig

VOCAB = 23


def valency_split(n: int, seed: int, label_is_valency: bool = True) -> SplitTensors:
    """Random words under a random tree (each word hangs off one placed before it in a random
    order); label: the word has a dependent (valency), or a coin flip."""
    g = torch.Generator().manual_seed(seed)
    ids, labels, heads = [], [], []
    for _ in range(n):
        length = int(torch.randint(4, 10, (1,), generator=g))
        order = torch.randperm(length, generator=g).tolist()
        head = [-1] * length
        for k, i in enumerate(order[1:], 1):
            head[i] = order[int(torch.randint(0, k, (1,), generator=g))]
        coin = torch.randint(0, 2, (length,), generator=g).tolist()
        ids.append(torch.randint(3, VOCAB, (length,), generator=g).tolist())
        heads.append(head)
        valency = [int(i in head) for i in range(length)]
        labels.append(valency if label_is_valency else coin)
    return SplitTensors.build(ids, labels, heads, [[0] * len(w) for w in ids],
                              [[False] * len(w) for w in ids])


def trained_accuracy(label_is_valency: bool, steps: int = 150, **config) -> float:
    torch.manual_seed(0)
    train, test = valency_split(1000, 2, label_is_valency), valency_split(300, 3, label_is_valency)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=VOCAB, d_model=32, **config))
    return train_and_score(model, train, test, steps, lr=0.01)


STRUCTURE = {"scores": "gold_neighbourhood", "values": "offsets", "feed_forward": True}


@pytest.fixture(scope="module")
def accuracy() -> dict:
    """Held-out accuracy of each control, trained once for the module (150 steps, ~3 s each)."""
    return {(label, values): trained_accuracy(label, **STRUCTURE | {"values": values})
            for label in (True, False) for values in ("offsets", "positions")} | {
        (True, "position-only"): trained_accuracy(True, scores="position", feed_forward=True)}


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("values", ["offsets", "positions"])
def test_structure_only_control_reads_valency_from_the_rows_shape_and_position_cannot(accuracy, values):
    assert accuracy[True, values] > 0.9  # measured 0.975 (offsets), 0.962 (positions)
    # matched: the same block, rows from the learned position bias instead of the gold tree
    assert accuracy[True, "position-only"] < 0.6  # measured 0.499


@pytest.mark.parametrize("values", ["offsets", "positions"])
def test_structure_only_control_is_at_chance_where_the_label_is_not_valency(accuracy, values):
    assert accuracy[False, values] < 0.6  # measured 0.507, 0.500


@pytest.mark.parametrize("values", ["offsets", "positions"])
def test_structure_only_values_carry_no_word_and_both_batchings_agree(values):
    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=VOCAB, d_model=16, **STRUCTURE | {"values": values}))
    model.eval()
    split = valency_split(4, seed=1)
    batch = SentenceBatches(split)[[0, 1, 2, 3]]
    other_words = batch["ids"].clone()
    words = batch["ids"] > 2
    other_words[words] = 3 + (other_words[words] + 5) % (VOCAB - 3)  # every word changed
    with torch.no_grad():
        logits, _ = model.forward_all_masks(batch["ids"], heads=batch["heads"])
        swapped, _ = model.forward_all_masks(other_words, heads=batch["heads"])
        torch.testing.assert_close(logits, swapped)  # the words never reach the classifier
        for position in range(4):
            masked = batch["ids"].clone()
            masked[:, position] = model.mask_id
            one, _ = model(masked, torch.full((4,), position), need_weights=False, heads=batch["heads"])
            torch.testing.assert_close(one, logits[:, position], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("setting", [{"scores": "content"}, {"scores": "position", "num_heads": 2},
                                     {"scores": "position", "directional_values": True}], ids=str)
def test_offset_values_are_refused_outside_the_one_head_controls(setting):
    with pytest.raises(ConfigError, match="model.values=offsets"):
        ModelConfig(vocab_size=VOCAB, values="offsets", **setting)
    if setting["scores"] == "content":
        with pytest.raises(ConfigError, match="model.values=positions is a structure-only control"):
            ModelConfig(vocab_size=VOCAB, values="positions", **setting)
