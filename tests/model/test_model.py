"""The classifier: all masks in one pass equals one masked sentence at a time, exactly."""

import pytest
import torch

from attn_project.errors import ConfigError
from attn_project.model import MaskedTokenClassifier, ModelConfig
from attn_project.model.attention import MultiHeadAttention, RelativePositionBias

VOCAB, MASK, PAD = 50, 2, 0
CONFIGS = {
    "single head": dict(num_heads=1),
    "multi head": dict(num_heads=4),
    "directional single head": dict(num_heads=1, directional_values=True),
    "full block": dict(num_heads=4, residual=True, layer_norm=True, feed_forward=True),
    "normal init, learned positions": dict(num_heads=2, init="normal", positional="learned"),
    "relative bias, single head": dict(num_heads=1, relative_bias=True),
    "relative bias, multi head": dict(num_heads=4, relative_bias=True),
    "relative bias, directional": dict(num_heads=1, relative_bias=True, directional_values=True),
}


def padded_batch():
    torch.manual_seed(0)
    lengths = torch.tensor([9, 5, 1, 7])
    ids = torch.randint(3, VOCAB, (4, 9))
    ids[torch.arange(9)[None] >= lengths[:, None]] = PAD
    return ids, lengths


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_all_masks_in_one_pass_equals_one_by_one(name):
    torch.manual_seed(1)
    model = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, max_len=12, mask_id=MASK, pad_id=PAD,
                                  **CONFIGS[name])).eval()
    if model.relative_bias is not None:
        torch.nn.init.normal_(model.relative_bias.bias)  # zeros at init would test nothing
    ids, lengths = padded_batch()
    logits, mask_map = model.forward_all_masks(ids)  # [B, T, 2], [B, H, T, T]
    for b, length in enumerate(lengths.tolist()):
        for i in range(length):
            masked = ids[b: b + 1].clone()
            masked[0, i] = MASK
            one_logits, one_weights = model(masked, torch.tensor([i]))
            torch.testing.assert_close(logits[b, i], one_logits[0], atol=1e-5, rtol=1e-5)
            row_logits, _ = model(masked, torch.tensor([i]), need_weights=False)  # training path
            torch.testing.assert_close(row_logits[0], one_logits[0], atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(mask_map[b, :, i], one_weights[0, :, i], atol=1e-5, rtol=1e-5)
    # the training path on a padded batch of every masked copy at once
    sentence, position = (torch.arange(9)[None] < lengths[:, None]).nonzero(as_tuple=True)
    copies = ids[sentence].clone()
    copies[torch.arange(len(sentence)), position] = MASK
    batch_logits, _ = model(copies, position, need_weights=False)
    torch.testing.assert_close(batch_logits, logits[sentence, position], atol=1e-5, rtol=1e-5)
    assert torch.all(mask_map[:, :, :, :][~(torch.arange(9)[None] < lengths[:, None])[:, None, None, :]
                                         .expand_as(mask_map)] == 0)  # padding never attended


def test_forward_returns_heads_dimension():
    ids, _ = padded_batch()
    for heads in (1, 4):
        model = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, num_heads=heads, max_len=12))
        logits, weights = model(ids, torch.zeros(4, dtype=torch.long))
        assert logits.shape == (4, 2) and weights.shape == (4, heads, 9, 9)


def test_directional_values_can_tell_sides_apart():
    """Same two neighbours, swapped sides: a plain head cannot tell, the directional one can."""
    torch.manual_seed(0)
    ids_a = torch.tensor([[5, MASK, 7]])
    ids_b = torch.tensor([[7, MASK, 5]])
    plain = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, positional="learned", max_len=4)).eval()
    torch.nn.init.zeros_(plain.embed.position.table)  # no positions: only the words remain
    directional = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, positional="learned", max_len=4,
                                                    directional_values=True)).eval()
    torch.nn.init.zeros_(directional.embed.position.table)
    pos = torch.tensor([1])
    assert torch.allclose(plain(ids_a, pos)[0], plain(ids_b, pos)[0], atol=1e-6)
    assert not torch.allclose(directional(ids_a, pos)[0], directional(ids_b, pos)[0], atol=1e-4)


def test_invalid_model_configs_name_the_key():
    # ModelConfig checks every setting before a module is built, under its config key
    with pytest.raises(ConfigError, match="model.num_heads=3 must be ≥ 1 and divide model.d_model=16"):
        ModelConfig(VOCAB, d_model=16, num_heads=3)
    with pytest.raises(ConfigError, match="model.init='xavier'"):
        ModelConfig(VOCAB, d_model=16, init="xavier")
    with pytest.raises(ConfigError, match="model.positional='wavy'"):
        ModelConfig(VOCAB, d_model=16, positional="wavy")
    with pytest.raises(ConfigError, match="data.max_len=0"):
        ModelConfig(VOCAB, d_model=16, max_len=0)
    with pytest.raises(ConfigError, match="model.directional_values"):
        ModelConfig(VOCAB, d_model=16, num_heads=2, directional_values=True)
    for name in ("dropout", "embedding_dropout", "word_dropout"):
        with pytest.raises(ConfigError, match=f"model.{name}=1.0 must be a probability"):
            ModelConfig(VOCAB, **{name: 1.0})
    with pytest.raises(ConfigError, match="num_heads=3 must be ≥ 1 and divide d_model=16"):
        MultiHeadAttention(16, 3)  # a module on its own names its own arguments


def test_word_dropout_replaces_words_by_unk_in_training_only():
    model = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, max_len=64, word_dropout=0.3))
    ids = torch.randint(3, VOCAB, (50, 64))
    ids[:, 5], ids[:, 60:] = MASK, PAD
    torch.manual_seed(0)
    dropped = model.train().drop_words(ids)
    changed = dropped != ids
    assert (dropped[changed] == 1).all()  # [UNK]
    assert not changed[:, 5].any() and not changed[:, 60:].any()  # [MASK] and padding stay
    assert 0.27 < changed[:, :60].float().mean() < 0.33  # about word_dropout of the words (2,950)
    assert torch.equal(model.eval().drop_words(ids), ids)  # evaluation sees every word
    still = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, max_len=64)).train()
    assert torch.equal(still.drop_words(ids), ids)


def test_embedding_dropout_acts_in_training_only():
    model = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, max_len=12, embedding_dropout=0.5))
    ids = torch.randint(3, VOCAB, (4, 12))
    model.train()
    assert (model.embed_words(ids) == 0).float().mean() > 0.3
    model.eval()
    assert torch.equal(model.embed_words(ids), model.embed(ids))


def small_module(compile_model):
    from attn_project.training.module import MaskedTokenModule

    torch.manual_seed(0)
    return MaskedTokenModule(model=dict(vocab_size=20, d_model=8, max_len=16),
                             optimizer={"_target_": "torch.optim.AdamW", "_partial_": True},
                             compile=compile_model)


def test_compile_wraps_both_entry_points_and_keeps_checkpoint_keys(monkeypatch):
    """model.compile=true must reach forward_all_masks (sentence batching calls it, not forward)."""
    calls = []

    def recording_compile(fn, **kwargs):  # torch.compile's place: records what runs through it
        def compiled(*args, **kw):
            calls.append(fn.__name__)
            return fn(*args, **kw)
        return compiled

    monkeypatch.setattr(torch, "compile", recording_compile)
    compiled, eager = small_module(True), small_module(False)
    ids = torch.randint(3, 20, (2, 7))
    eager.model.forward_all_masks(ids)
    eager.model(ids, torch.tensor([1, 2]))
    assert calls == []
    compiled.model.forward_all_masks(ids)
    compiled.model(ids, torch.tensor([1, 2]))
    assert calls == ["forward_all_masks", "forward"]
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints load either way


@pytest.mark.slow
def test_compiled_model_computes_what_the_eager_one_does():
    """Runs the compiled code (inductor on CPU: ~40 s to compile)."""
    compiled, eager = small_module(True), small_module(False)
    ids = torch.randint(3, 20, (2, 7))
    for got, expected in zip(compiled.model.forward_all_masks(ids), eager.model.forward_all_masks(ids)):
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_relative_bias_is_indexed_by_key_minus_query_and_clipped():
    bias = RelativePositionBias(num_heads=1, max_distance=2)
    with torch.no_grad():
        bias.bias[0] = torch.tensor([-20.0, -1.0, 0.0, 1.0, 20.0])  # offsets -2 … +2
    table = bias(6)[0]  # [T, T]: table[i, j] for offset j - i
    assert table[3, 2] == -1.0 and table[2, 3] == 1.0  # a sign flip would swap these
    assert table[5, 0] == -20.0 and table[0, 5] == 20.0  # offsets beyond ±2 take the end values
    assert torch.all(table.diagonal() == 0.0)
    model = MaskedTokenClassifier(ModelConfig(VOCAB, d_model=16, max_len=12, relative_bias=True)).eval()
    with torch.no_grad():
        model.relative_bias.bias.zero_()
        model.relative_bias.bias[0, 8 - 1] = 50.0  # offset -1: attend to the word on the left
    _, mask_map = model.forward_all_masks(torch.randint(3, VOCAB, (1, 6)))  # [1, 1, T, T]
    assert mask_map[0, 0, 1:].argmax(-1).tolist() == [0, 1, 2, 3, 4]
