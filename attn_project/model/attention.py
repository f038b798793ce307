"""Scaled dot-product attention, one head and many, written out from scratch.

Every call can return its attention weights so that they can be looked at; every module
returns them as ``[batch, head, query, key]`` (one head: H = 1). A guarded fast path
(``need_weights=False``) calls ``torch.nn.functional.scaled_dot_product_attention``; the
explicit path never does.

Besides the usual ``forward``, both modules offer ``forward_mask_rows``: the attention rows
of every masked variant of a sentence in one pass (see ``swap_diagonal_attention``).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from attn_project.errors import ConfigError


def masked_softmax(scores: Tensor, mask: Tensor | None) -> Tensor:
    """Softmax over the last dim restricted to ``mask`` (True = may attend).

    A row with no allowed key returns all zeros (not NaN), so its output is the zero vector.
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    has_any = mask.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~mask, float("-inf")).masked_fill(~has_any, 0.0)
    return torch.softmax(scores, dim=-1) * has_any


def scaled_dot_product_attention(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, bias: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / sqrt(d) + bias) v; returns (out [..., Tq, dv], weights [..., Tq, Tk])."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # [..., Tq, Tk]
    if bias is not None:
        scores = scores + bias
    weights = masked_softmax(scores, mask)
    return weights @ v, weights


def fused_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None,
                    bias: Tensor | None = None) -> Tensor:
    """The same computation through PyTorch's fused kernel (no weights; rows with no key → 0)."""
    attn_mask = mask
    if bias is not None:  # a float mask is added to the scores: fold the boolean mask into it
        attn_mask = bias if mask is None else bias.masked_fill(~mask, float("-inf"))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
    if mask is None:
        return out
    return out * mask.any(dim=-1, keepdim=True)  # fully masked rows: 0, as the explicit path


ReplaceWeights = Callable[[Tensor], Tensor]  # weights [B, H, T, T] → other weights of that shape


def swap_diagonal_attention(
    q: Tensor, k: Tensor, v: Tensor, k_diag: Tensor, v_diag: Tensor, mask: Tensor | None = None,
    bias: Tensor | None = None, replace_weights: ReplaceWeights | None = None,
) -> tuple[Tensor, Tensor]:
    """Attention of T masked variants at once: row i uses key/value ``k_diag[i], v_diag[i]`` at i.

    With q = queries of [MASK] at each position, k/v = keys/values of the real tokens and
    k_diag/v_diag = key/value of [MASK] at each position, row i equals row i of ordinary
    attention over the sentence whose token i was replaced by [MASK]. Shapes [..., T, d]
    (q, k_diag and v_diag may have batch size 1: they broadcast). ``replace_weights`` swaps the
    softmax's rows for others before the values are mixed (interventions, ``analysis/interventions``).
    """
    scale = 1.0 / math.sqrt(q.size(-1))
    scores = q @ k.transpose(-2, -1)  # [..., T, T]
    diag_scores = (q * k_diag).sum(-1)  # [..., T]
    eye = torch.eye(scores.size(-1), dtype=torch.bool, device=scores.device)
    scores = torch.where(eye, diag_scores.unsqueeze(-1), scores) * scale
    if bias is not None:
        scores = scores + bias
    weights = masked_softmax(scores, mask)
    if replace_weights is not None:
        weights = replace_weights(weights)
    diag_weights = weights.diagonal(dim1=-2, dim2=-1).unsqueeze(-1)  # [..., T, 1]
    out = weights @ v + diag_weights * (v_diag - v)
    return out, weights


def with_own_key(per_key: Tensor, own: Tensor) -> Tensor:
    """per_key [B, H, T] (key j's value, for every row) and own [B|1, H, T] (row i's [MASK] value,
    at key i) → [B, H, T, T]: what key j brings to row i."""
    t = per_key.size(-1)
    eye = torch.eye(t, dtype=torch.bool, device=per_key.device)
    return torch.where(eye, own.unsqueeze(-1), per_key.unsqueeze(-2).expand(-1, -1, t, -1))


def padding_to_attend_mask(key_padding_mask: Tensor | None) -> Tensor | None:
    """[B, T] True = padding  →  [B, 1, 1, T] True = may attend (broadcast over heads, queries)."""
    if key_padding_mask is None:
        return None
    return (~key_padding_mask)[:, None, None, :]


def causal_attend_mask(key_padding_mask: Tensor | None, length: int, device: torch.device) -> Tensor:
    """May attend: key j ≤ query i (no row sees its right), and not padding → [B|1, 1, T, T]."""
    left = torch.ones(length, length, dtype=torch.bool, device=device).tril()[None, None]  # [1, 1, T, T]
    padding = padding_to_attend_mask(key_padding_mask)
    return left if padding is None else left & padding


def attend(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, bias: Tensor | None,
           need_weights: bool) -> tuple[Tensor, Tensor | None]:
    """Per-head attention [B, H, T, d]: the explicit path with weights, or the fused one without."""
    if need_weights:
        return scaled_dot_product_attention(q, k, v, mask, bias)
    return fused_attention(q, k, v, mask, bias), None


class SingleHeadAttention(nn.Module):
    """One head: learned W_Q, W_K, W_V project d_model → d_head, then attention (no W_O)."""

    attends_from_query = True  # forward(query=...) computes only the rows of those queries

    def __init__(self, d_model: int, d_head: int | None = None):
        super().__init__()
        d_head = d_head or d_model
        self.d_model, self.d_head = d_model, d_head
        self.w_q = nn.Linear(d_model, d_head)
        self.w_k = nn.Linear(d_model, d_head)
        self.w_v = nn.Linear(d_model, d_head)

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_bias: Tensor | None = None, query: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """x [B, T, d_model] → (out [B, Tq, d_head], weights [B, 1, Tq, T] or None when fused).

        ``attn_bias`` [1, Tq, T] (or [B, 1, Tq, T]) is added to the scaled scores (e.g. a
        relative-position bias). ``query`` [B, Tq, d_model]: only these rows attend (to x);
        default x itself.
        """
        q = self.w_q(x if query is None else query).unsqueeze(1)  # [B, 1, Tq, d_head]: one head
        k, v = self.w_k(x).unsqueeze(1), self.w_v(x).unsqueeze(1)  # each [B, 1, T, d_head]
        out, weights = attend(q, k, v, padding_to_attend_mask(key_padding_mask), attn_bias, need_weights)
        return out.squeeze(1), weights  # [B, Tq, d_head]

    def forward_mask_rows(
        self, x: Tensor, x_mask: Tensor, key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None, replace_weights: ReplaceWeights | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Row i of the attention of every sentence with token i masked: → ([B,T,d_head], [B,1,T,T]).

        x [B, T, d_model]: the sentences; x_mask [B or 1, T, d_model]: [MASK] at each position.
        """
        q, k_diag, v_diag = (w(x_mask).unsqueeze(1) for w in (self.w_q, self.w_k, self.w_v))  # [B|1,1,T,d]
        k, v = self.w_k(x).unsqueeze(1), self.w_v(x).unsqueeze(1)  # each [B, 1, T, d_head]
        mask = padding_to_attend_mask(key_padding_mask)  # [B, 1, 1, T]
        out, weights = swap_diagonal_attention(q, k, v, k_diag, v_diag, mask, attn_bias, replace_weights)
        return out.squeeze(1), weights  # [B, T, d_head]

    def contribution_norms(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """‖the value key j adds to the [MASK] at row i‖ before weighting: [B, 1, T, T] (Kobayashi
        et al. 2020: effective attention is weight × this norm, renormalised per row)."""
        return with_own_key(self.w_v(x).norm(dim=-1)[:, None], self.w_v(x_mask).norm(dim=-1)[:, None])

    def key_scores(self, direction: Tensor, x: Tensor, x_mask: Tensor) -> Tensor:
        """direction [B, T, d_head] (one per row) · the value key j brings row i: [B, 1, T, T]. Times
        the weights, the exact share of each key in a linear read-out of the output."""
        per_key = torch.einsum("bid,bjd->bij", direction, self.w_v(x))  # [B, T, T]
        own = (direction * self.w_v(x_mask)).sum(-1)  # [B, T]: row i's [MASK] value at key i
        return with_own_key_scores(per_key, own)[:, None]


def with_own_key_scores(per_pair: Tensor, own: Tensor) -> Tensor:
    """per_pair [..., T, T] with its diagonal replaced by own [..., T]."""
    eye = torch.eye(per_pair.size(-1), dtype=torch.bool, device=per_pair.device)
    return torch.where(eye, own.unsqueeze(-1), per_pair)


class MultiHeadAttention(nn.Module):
    """H heads of size d_model / H side by side, concatenated and mixed by W_O."""

    attends_from_query = True

    def __init__(self, d_model: int, num_heads: int):
        super().__init__()
        if num_heads < 1 or d_model % num_heads != 0:
            raise ConfigError(
                f"num_heads={num_heads} must be ≥ 1 and divide d_model={d_model} "
                f"(each head gets d_model / num_heads dimensions); pick e.g. num_heads=1, 2 or 4.")
        self.d_model, self.num_heads = d_model, num_heads
        self.d_head = d_model // num_heads
        self.w_q = nn.Linear(d_model, d_model)
        self.w_k = nn.Linear(d_model, d_model)
        self.w_v = nn.Linear(d_model, d_model)
        self.w_o = nn.Linear(d_model, d_model)

    def split_heads(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.num_heads, self.d_head).transpose(1, 2)  # [B, H, T, d_head]

    def merge_heads(self, x: Tensor) -> Tensor:
        b, _, t, _ = x.shape
        return x.transpose(1, 2).reshape(b, t, self.d_model)  # [B, T, d_model]

    def forward(
        self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_bias: Tensor | None = None, query: Tensor | None = None, causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x [B, T, d_model] → (out [B, T, d_model], weights [B, H, T, T] or None when fused).

        ``attn_bias`` [H, T, T] is added to each head's scaled scores.
        ``query`` [B, Tq, d_model]: only these rows attend (to x); default x itself.
        ``causal``: row i attends to keys j ≤ i only (a causal language model).
        """
        q = self.split_heads(self.w_q(x if query is None else query))  # [B, H, Tq, d_head]
        k, v = self.split_heads(self.w_k(x)), self.split_heads(self.w_v(x))  # [B, H, T, d_head]
        mask = (causal_attend_mask(key_padding_mask, x.size(1), x.device) if causal  # [B|1, 1, T, T]
                else padding_to_attend_mask(key_padding_mask))  # [B, 1, 1, T]
        out, weights = attend(q, k, v, mask, attn_bias, need_weights)
        return self.w_o(self.merge_heads(out)), weights

    def forward_mask_rows(
        self, x: Tensor, x_mask: Tensor, key_padding_mask: Tensor | None = None,
        attn_bias: Tensor | None = None, replace_weights: ReplaceWeights | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Row i of every sentence with token i masked, all heads: → ([B,T,d_model], [B,H,T,T])."""
        q = self.split_heads(self.w_q(x_mask))
        k, v = self.split_heads(self.w_k(x)), self.split_heads(self.w_v(x))
        k_diag, v_diag = self.split_heads(self.w_k(x_mask)), self.split_heads(self.w_v(x_mask))
        mask = padding_to_attend_mask(key_padding_mask)  # [B, 1, 1, T]
        out, weights = swap_diagonal_attention(q, k, v, k_diag, v_diag, mask, attn_bias, replace_weights)
        return self.w_o(self.merge_heads(out)), weights

    def through_output(self, v: Tensor) -> Tensor:
        """Each head's values through its own slice of W_O: [B, H, T, d_head] → [B, H, T, d_model]."""
        w_o = self.w_o.weight.view(self.d_model, self.num_heads, self.d_head)  # [d_model, H, d_head]
        return torch.einsum("bhtk,dhk->bhtd", v, w_o)

    def contribution_norms(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """‖head h's value of key j through its slice of W_O‖ at the [MASK] of row i: [B, H, T, T]."""
        per_key = self.through_output(self.split_heads(self.w_v(x))).norm(dim=-1)  # [B, H, T]
        own = self.through_output(self.split_heads(self.w_v(x_mask))).norm(dim=-1)  # [1, H, T]
        return with_own_key(per_key, own)

    def key_scores(self, direction: Tensor, x: Tensor, x_mask: Tensor) -> Tensor:
        """direction [B, T, d_model] · head h's value of key j through its slice of W_O: [B, H, T, T]
        (W_O's bias is no key's: it is a constant of the read-out)."""
        per_key = torch.einsum("bid,bhjd->bhij", direction,
                               self.through_output(self.split_heads(self.w_v(x))))  # [B, H, T, T]
        own_values = self.through_output(self.split_heads(self.w_v(x_mask)))  # [1, H, T, d_model]
        own = torch.einsum("bid,xhid->bhi", direction, own_values)  # [B, H, T]
        return with_own_key_scores(per_key, own)


def split_by_side(weights: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """weights [..., T, T] → (left of the query, the query itself [..., T, 1], right of it)."""
    return weights.tril(-1), weights.diagonal(dim1=-2, dim2=-1).unsqueeze(-1), weights.triu(1)


class DirectionalSingleHeadAttention(SingleHeadAttention):
    """One head whose values depend on the side: W_V⁻ left of the query, W_V⁺ right, W_V at it.

    Still one softmax, one attention distribution; but a word's value now says on which side
    of the query it stood (relative-position values, after Shaw et al. 2018, with 3 buckets),
    which a plain weighted average of values cannot. It computes every row (its values need the
    whole weight matrix split by side), so it never takes a ``query``.
    """

    attends_from_query = False

    def __init__(self, d_model: int, d_head: int | None = None):
        super().__init__(d_model, d_head)
        self.w_v_left = nn.Linear(d_model, self.d_head)
        self.w_v_right = nn.Linear(d_model, self.d_head)

    def mix(self, weights: Tensor, x: Tensor, x_self: Tensor) -> Tensor:
        """weights [B, 1, T, T] → out [B, T, d_head]: each side's words through its own W_V."""
        left, self_weight, right = split_by_side(weights[:, 0])  # one head: [B, T, T]
        return left @ self.w_v_left(x) + right @ self.w_v_right(x) + self_weight * self.w_v(x_self)

    def forward(self, x: Tensor, key_padding_mask: Tensor | None = None, need_weights: bool = True,
                attn_bias: Tensor | None = None, query: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Always the explicit path, every row: the values need the weights split by side."""
        if query is not None:
            raise ValueError("the directional head attends from every position (attends_from_query=False)")
        k = self.w_k(x).unsqueeze(1)  # [B, 1, T, d_head]
        _, weights = scaled_dot_product_attention(self.w_q(x).unsqueeze(1), k, k,
                                                  padding_to_attend_mask(key_padding_mask), attn_bias)
        return self.mix(weights, x, x), weights

    def forward_mask_rows(self, x: Tensor, x_mask: Tensor, key_padding_mask: Tensor | None = None,
                          attn_bias: Tensor | None = None, replace_weights: ReplaceWeights | None = None
                          ) -> tuple[Tensor, Tensor]:
        k, k_mask = self.w_k(x).unsqueeze(1), self.w_k(x_mask).unsqueeze(1)  # [B|1, 1, T, d_head]
        _, weights = swap_diagonal_attention(self.w_q(x_mask).unsqueeze(1), k, k, k_mask, k_mask,
                                             padding_to_attend_mask(key_padding_mask), attn_bias,
                                             replace_weights)
        return self.mix(weights, x, x_mask), weights

    def contribution_norms(self, x: Tensor, x_mask: Tensor) -> Tensor:
        """The value's norm by side: W_V⁻ left of the [MASK], W_V⁺ right, W_V at it: [B, 1, T, T]."""
        left, right = (w(x).norm(dim=-1)[:, None, None, :]  # each [B, 1, 1, T]
                       for w in (self.w_v_left, self.w_v_right))
        t = x.size(1)
        j, i = torch.arange(t, device=x.device), torch.arange(t, device=x.device)[:, None]
        per_key = torch.where(j < i, left, right)  # [B, 1, T, T]: the key's side of each row
        own = self.w_v(x_mask).norm(dim=-1)[:, None]  # [1, 1, T]
        eye = torch.eye(t, dtype=torch.bool, device=x.device)
        return torch.where(eye, own.unsqueeze(-1), per_key)

    def key_scores(self, direction: Tensor, x: Tensor, x_mask: Tensor) -> Tensor:
        """direction [B, T, d_head] · the value key j brings row i, by side: [B, 1, T, T]."""
        left = torch.einsum("bid,bjd->bij", direction, self.w_v_left(x))  # [B, T, T]
        right = torch.einsum("bid,bjd->bij", direction, self.w_v_right(x))
        t = x.size(1)
        j, i = torch.arange(t, device=x.device), torch.arange(t, device=x.device)[:, None]
        own = (direction * self.w_v(x_mask)).sum(-1)  # [B, T]
        return with_own_key_scores(torch.where(j < i, left, right), own)[:, None]


class RelativePositionBias(nn.Module):
    """A learned score bonus per head for each offset j - i, clipped at ±max_distance (T5-style,
    without buckets): lets a head prefer "the word to my left" whatever the words are."""

    def __init__(self, num_heads: int, max_distance: int = 8):
        super().__init__()
        self.max_distance = max_distance
        self.bias = nn.Parameter(torch.zeros(num_heads, 2 * max_distance + 1))

    def forward(self, length: int) -> Tensor:
        """→ [H, T, T]: bias[h, i, j] for offset j - i."""
        pos = torch.arange(length, device=self.bias.device)
        offset = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance)  # [T, T]
        return self.bias[:, offset + self.max_distance]  # [H, T, T]


class OffsetValues(nn.Module):
    """Values that carry no word: key j brings row i a learned vector of its offset j - i (clipped
    at ±max_distance). Mixed by a control's or an oracle's rows, the output says where the row
    looks (its *shape*), never what is there: the structure-only control."""

    def __init__(self, d_out: int, max_distance: int = 8):
        super().__init__()
        self.max_distance = max_distance
        self.table = nn.Embedding(2 * max_distance + 1, d_out)

    def buckets(self, length: int) -> Tensor:
        """[T, T]: the clipped offset j - i of each (row, key), shifted to 0 .. 2·max_distance."""
        pos = torch.arange(length, device=self.table.weight.device)
        return (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance) + self.max_distance

    def forward(self, weights: Tensor) -> Tensor:
        """weights [B, 1, T, T] → out [B, T, d_out]: Σ_j α_ij · table[j − i]."""
        t = weights.size(-1)
        one_hot = F.one_hot(self.buckets(t), self.table.num_embeddings).to(weights.dtype)  # [T, T, K]
        per_offset = torch.einsum("bij,ijk->bik", weights[:, 0], one_hot)  # [B, T, K]: weight per offset
        return per_offset @ self.table.weight  # [B, T, d_out]

    def contribution_norms(self, length: int) -> Tensor:
        """‖table[j − i]‖ for every (row, key): [1, 1, T, T]."""
        return self.table.weight.norm(dim=-1)[self.buckets(length)][None, None]

    def key_scores(self, direction: Tensor) -> Tensor:
        """direction [B, T, d_out] · table[j − i]: [B, 1, T, T]."""
        per_offset = direction @ self.table.weight.T  # [B, T, K]
        buckets = self.buckets(direction.size(1)).expand(direction.size(0), -1, -1)  # [B, T, T]
        return per_offset.gather(-1, buckets)[:, None]
