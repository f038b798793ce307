"""Our attention against PyTorch's, and the properties every attention matrix must have."""

import pytest
import torch
import torch.nn.functional as F

from attn_project.model.attention import (
    MultiHeadAttention,
    SingleHeadAttention,
    scaled_dot_product_attention,
)

B, T, D, H = 3, 7, 16, 4


@pytest.fixture(autouse=True)
def seed():
    torch.manual_seed(0)


def padding_mask():
    """[B, T] True = padding: lengths 7, 5, 1."""
    lengths = torch.tensor([7, 5, 1])
    return torch.arange(T)[None, :] >= lengths[:, None]


@pytest.mark.parametrize("with_mask", [False, True])
def test_sdpa_matches_torch(with_mask):
    q, k, v = (torch.randn(B, H, T, D) for _ in range(3))
    mask = (~padding_mask())[:, None, None, :] if with_mask else None
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert weights.shape == (B, H, T, T)


def test_fully_masked_row_is_zero_not_nan():
    q, k, v = (torch.randn(2, T, D) for _ in range(3))
    mask = torch.ones(2, T, T, dtype=torch.bool)
    mask[0, 3] = False  # query 3 of batch 0 may attend to nothing
    q.requires_grad_(True)
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.isfinite(out).all() and torch.isfinite(weights).all()
    assert torch.equal(weights[0, 3], torch.zeros(T))
    assert torch.equal(out[0, 3], torch.zeros(D))
    out.sum().backward()
    assert torch.isfinite(q.grad).all()


def copy_into_torch_mha(ours: MultiHeadAttention) -> torch.nn.MultiheadAttention:
    ref = torch.nn.MultiheadAttention(ours.d_model, ours.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([ours.w_q.weight, ours.w_k.weight, ours.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([ours.w_q.bias, ours.w_k.bias, ours.w_v.bias]))
        ref.out_proj.weight.copy_(ours.w_o.weight)
        ref.out_proj.bias.copy_(ours.w_o.bias)
    return ref


@pytest.mark.parametrize("with_padding", [False, True])
def test_multi_head_matches_torch_multihead_attention(with_padding):
    ours = MultiHeadAttention(D, H)
    ref = copy_into_torch_mha(ours)
    x = torch.randn(B, T, D)
    pad = padding_mask() if with_padding else None
    out, weights = ours(x, key_padding_mask=pad)
    ref_out, ref_weights = ref(x, x, x, key_padding_mask=pad, need_weights=True,
                               average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(weights, ref_weights, atol=1e-5, rtol=1e-5)


def test_single_head_equals_one_head_multi_head():
    single = SingleHeadAttention(D)
    multi = MultiHeadAttention(D, 1)
    with torch.no_grad():
        for name in ("w_q", "w_k", "w_v"):
            getattr(multi, name).load_state_dict(getattr(single, name).state_dict())
        multi.w_o.weight.copy_(torch.eye(D))
        multi.w_o.bias.zero_()
    x, pad = torch.randn(B, T, D), padding_mask()
    out_s, w_s = single(x, key_padding_mask=pad)
    out_m, w_m = multi(x, key_padding_mask=pad)
    torch.testing.assert_close(out_s, out_m, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w_s, w_m, atol=1e-6, rtol=1e-6)  # both [B, 1, T, T]


@pytest.mark.parametrize("module", [SingleHeadAttention(D, 8), MultiHeadAttention(D, H)])
def test_rows_sum_to_one_and_padding_gets_zero(module):
    pad = padding_mask()
    _, weights = module(torch.randn(B, T, D), key_padding_mask=pad)
    assert weights.dim() == 4  # [B, H, T, T] for every module, one head too
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    assert torch.all(weights.masked_select(pad[:, None, None, :].expand_as(weights)) == 0)


@pytest.mark.parametrize("module", [SingleHeadAttention(D), MultiHeadAttention(D, H)])
def test_fused_path_agrees_with_explicit(module):
    x, pad = torch.randn(B, T, D), padding_mask()
    explicit, _ = module(x, key_padding_mask=pad)
    fused, none = module(x, key_padding_mask=pad, need_weights=False)
    assert none is None
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("module", [SingleHeadAttention(D), MultiHeadAttention(D, H)])
def test_gradients_reach_every_projection(module):
    out, _ = module(torch.randn(B, T, D), key_padding_mask=padding_mask())
    out.pow(2).sum().backward()
    names = ["w_q", "w_k", "w_v"] + (["w_o"] if hasattr(module, "w_o") else [])
    for name in names:
        grad = getattr(module, name).weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_num_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="num_heads=3"):
        MultiHeadAttention(16, 3)


@pytest.mark.parametrize("module", [SingleHeadAttention(D), MultiHeadAttention(D, H)])
def test_fused_path_agrees_with_explicit_under_a_bias(module):
    x, pad = torch.randn(B, T, D), padding_mask()
    heads = getattr(module, "num_heads", 1)
    bias = torch.randn(heads, T, T)  # [H, T, T] for one head too
    explicit, _ = module(x, key_padding_mask=pad, attn_bias=bias)
    fused, _ = module(x, key_padding_mask=pad, need_weights=False, attn_bias=bias)
    torch.testing.assert_close(explicit, fused, atol=1e-5, rtol=1e-5)
