"""The language models' encoder: the fused path equals the from-scratch one (outputs and gradients),
no causal row attends to its right, padding is never attended, the output is tied to the input
embedding, BERT's masking by hand, and a tiny model overfits a few sentences."""

import pytest
import torch

from attn_project.data.labels import IGNORE
from attn_project.data.lm_masking import choose_positions, mask_tokens, next_word_labels
from attn_project.errors import ConfigError
from attn_project.model.encoder import Encoder, EncoderConfig
from attn_project.model.language_model import LanguageModel

PAD, MASK, SPECIALS = 0, 2, [0, 1, 2, 3]  # [PAD] [UNK] [MASK] [CLS]-like: the vocabulary's first ids


def batch(seed: int = 0, b: int = 3, t: int = 9, vocab: int = 50) -> torch.Tensor:
    ids = torch.randint(4, vocab, (b, t), generator=torch.Generator().manual_seed(seed))
    ids[1, 6:] = PAD  # a shorter sentence
    ids[2, 4:] = PAD
    return ids


@pytest.mark.parametrize("causal", [False, True])
def test_the_fused_path_equals_the_from_scratch_path_outputs_and_gradients(causal):
    torch.manual_seed(0)
    encoder = Encoder(EncoderConfig(vocab_size=50, max_len=16, d_model=32, num_heads=4, num_layers=3,
                                    dropout=0.0, causal=causal))
    ids = batch()
    outputs, grads = [], []
    for need_weights in (False, True):
        encoder.zero_grad()
        hidden, weights = encoder(ids, need_weights=need_weights)
        real = (ids != PAD)[..., None]
        (hidden * real).pow(2).sum().backward()
        outputs.append(hidden * real)
        grads.append([p.grad.clone() for p in encoder.parameters()])
        assert (weights is None) == (not need_weights)
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=1e-5)
    scale = max(float(g.abs().max()) for g in grads[1])  # float32 sums in another order: a few parts in
    for fused, explicit in zip(*grads):  # 10⁵ of the largest gradient (W_K's bias has none at all)
        torch.testing.assert_close(fused, explicit, atol=1e-5 * scale, rtol=1e-3)


def test_every_layers_weights_no_causal_row_looks_right_and_no_row_looks_at_padding():
    torch.manual_seed(1)
    ids = batch()
    for causal in (False, True):
        encoder = Encoder(EncoderConfig(vocab_size=50, max_len=16, d_model=32, num_heads=2, num_layers=3,
                                        dropout=0.0, causal=causal)).eval()
        _, weights = encoder(ids, need_weights=True)
        assert weights.shape == (3, 3, 2, 9, 9)  # [B, L, H, T, T]
        torch.testing.assert_close(weights.sum(-1), torch.ones(3, 3, 2, 9))
        assert weights[2, :, :, :, 4:].abs().max() == 0  # padding keys get nothing
        right = torch.ones(9, 9, dtype=torch.bool).triu(1)
        assert (weights[..., right].abs().max() == 0) == causal
    # causal: changing a later word leaves every earlier position's output as it was
    changed = ids.clone()
    changed[0, 5] = 7 if ids[0, 5] != 7 else 8
    first, _ = encoder(ids)
    second, _ = encoder(changed)
    torch.testing.assert_close(first[0, :5], second[0, :5])
    assert not torch.allclose(first[0, 5:], second[0, 5:])


def test_the_output_is_tied_to_the_input_embedding_and_next_word_labels_shift():
    model = LanguageModel(EncoderConfig(vocab_size=50, max_len=16, d_model=16, num_heads=2, num_layers=1))
    assert not any(p is model.encoder.tokens.weight for n, p in model.named_parameters() if "output" in n)
    with torch.no_grad():
        model.encoder.tokens.weight[7] += 10.0  # one word's embedding moves: its logit moves with it
    ids = batch()
    logits, _ = model.eval()(ids)
    hidden, _ = model.encoder(ids)
    torch.testing.assert_close(logits[..., 7], hidden @ model.encoder.tokens.weight[7])
    labels = next_word_labels(ids, PAD)
    assert torch.equal(labels[0, :-1], ids[0, 1:]) and labels[0, -1] == IGNORE
    assert (labels[2, 3:] == IGNORE).all()  # the last real word predicts padding: not scored


def test_bad_encoder_settings_name_the_key():
    with pytest.raises(ConfigError, match="model.num_heads"):
        EncoderConfig(vocab_size=10, d_model=30, num_heads=4)
    with pytest.raises(ConfigError, match="model.vocab_size"):
        EncoderConfig(vocab_size=0)
    with pytest.raises(ConfigError, match="max_len"):
        too_long = torch.ones(1, 5, dtype=torch.long)
        Encoder(EncoderConfig(vocab_size=10, max_len=4, d_model=8, num_heads=2))(too_long)


def test_masking_by_hand_on_a_fixed_generator():
    ids = batch(b=4, t=20)
    ids[3, :] = PAD
    ids[3, 0] = 3  # a row of specials only: nothing to choose
    inputs, labels = mask_tokens(ids, mask_id=MASK, vocab_size=50, special_ids=SPECIALS,
                                 generator=torch.Generator().manual_seed(0))
    chosen = labels != IGNORE
    assert torch.equal(labels[chosen], ids[chosen])  # every chosen position scores its own word
    assert not chosen[torch.isin(ids, torch.tensor(SPECIALS))].any()  # never a special or padding
    words = ~torch.isin(ids, torch.tensor(SPECIALS))
    assert chosen.sum(1).tolist() == [round(0.15 * n) or 1 if n else 0 for n in words.sum(1).tolist()]
    assert torch.equal(inputs[~chosen], ids[~chosen])  # nothing else changes
    again, _ = mask_tokens(ids, mask_id=MASK, vocab_size=50, special_ids=SPECIALS,
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(inputs, again)  # the generator fixes it


def test_masking_proportions_over_many_positions():
    ids = torch.randint(4, 1000, (4000, 40), generator=torch.Generator().manual_seed(3))  # 6 chosen a row
    inputs, labels = mask_tokens(ids, mask_id=MASK, vocab_size=1000, special_ids=SPECIALS,
                                 generator=torch.Generator().manual_seed(4))
    chosen = labels != IGNORE
    assert (chosen.sum(1) == 6).all()
    masked = (inputs[chosen] == MASK).float().mean()
    kept = (inputs[chosen] == ids[chosen]).float().mean()  # unchanged, or a random word that happens to match
    assert masked == pytest.approx(0.8, abs=0.01) and kept == pytest.approx(0.1, abs=0.008)  # 24,000 draws
    assert (inputs[chosen & (inputs != MASK)] >= 4).all()  # random words are never specials
    positions = choose_positions(torch.ones(1, 10, dtype=torch.bool), 0.15, torch.Generator().manual_seed(0))
    assert positions.sum() == 2  # round(1.5) → 2
    scored, labels = mask_tokens(ids, mask_id=MASK, vocab_size=1000, special_ids=SPECIALS, replace=(1.0, 0.0),
                                 generator=torch.Generator().manual_seed(4))  # how dev and test are scored
    assert (scored[labels != IGNORE] == MASK).all()


def test_dev_and_test_batches_mask_every_scored_word(tmp_path):
    from attn_project.data.lm_datamodule import TextDataModule

    path = tmp_path / "text.txt"
    path.write_text("\n".join(f"w{k % 7} w{k % 5} w{k % 3} w{k % 11} end" for k in range(300)) + "\n")
    dm = TextDataModule(files=[str(path)], vocab_size=30, batch_size=8, seed=0, data_dir=str(tmp_path),
                        cache_dir=str(tmp_path / "cache"))
    dm.setup()
    for split in ("dev", "test"):
        for batch in dm.eval_batches[split]:
            scored = batch["labels"] != IGNORE
            assert scored.any() and (batch["ids"][scored] == MASK).all()
    train = list(dm.train_dataloader())  # training keeps BERT's mix: of ~270 chosen words, some visible
    assert any((b["ids"][b["labels"] != IGNORE] != MASK).any() for b in train)


@pytest.mark.slow  # trains a model
@pytest.mark.parametrize("causal", [False, True])
def test_a_tiny_language_model_overfits_twenty_sentences(causal):
    torch.manual_seed(0)
    ids = torch.randint(4, 30, (20, 8), generator=torch.Generator().manual_seed(5))
    model = LanguageModel(EncoderConfig(vocab_size=30, max_len=8, d_model=64, num_heads=4, num_layers=2,
                                        dropout=0.0, causal=causal))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(6)
    for _ in range(300):
        if causal:
            inputs, labels = ids, next_word_labels(ids, PAD)
        else:
            inputs, labels = mask_tokens(ids, mask_id=MASK, vocab_size=30, special_ids=SPECIALS,
                                         generator=generator, rate=0.3)
        optimizer.zero_grad()
        model.loss(inputs, labels).backward()
        optimizer.step()
    model.eval()
    if causal:
        logits, _ = model(ids)
        accuracy = (logits[:, :-1].argmax(-1) == ids[:, 1:]).float().mean()
    else:  # every word masked alone in turn: the model names it from its neighbours
        hits = []
        for i in range(8):
            masked = ids.clone()
            masked[:, i] = MASK
            hits.append(model(masked)[0][:, i].argmax(-1) == ids[:, i])
        accuracy = torch.stack(hits).float().mean()
    assert accuracy > 0.9, float(accuracy)  # random sentences: only memorising them gets here


@pytest.mark.slow  # compiles (about 20 s on a CPU)
def test_the_compiled_encoder_gives_the_same_loss_and_keeps_its_weight_names():
    """``compile=true`` (commands/train_lm.py) compiles the encoder in place: the same numbers, and
    checkpoints whose names load into an uncompiled model."""
    torch.manual_seed(0)
    model = LanguageModel(EncoderConfig(vocab_size=50, max_len=16, d_model=16, num_heads=2, num_layers=1,
                                        dropout=0.0, causal=True))
    ids = batch()
    labels = next_word_labels(ids, PAD)
    eager, names = model.loss(ids, labels), list(model.state_dict())
    model.encoder.compile()
    assert torch.allclose(model.loss(ids, labels), eager, atol=1e-5)
    assert list(model.state_dict()) == names
