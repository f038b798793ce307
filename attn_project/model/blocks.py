"""The project's one transformer block (``TransformerBlock``: the language models' pre-LN encoder
and the deep classifier use it), and the layers of a deeper classifier (``model.num_layers`` ≥ 2):
ordinary post-LN blocks built from the project's own attention modules — attention (one head,
several heads, or the directional head; each layer with its own relative bias when
``model.relative_bias``), a residual connection, LayerNorm, and the GELU MLP when
``model.feed_forward``. Residual and LayerNorm are always on in
a deep model: without the residual a layer's output at a word would forget the word (and at the
[MASK], that it is the [MASK]), and stacked layers without normalisation train poorly. The MLP is
off by default, as in the one-layer model, so depth is the only change a comparison makes."""

from __future__ import annotations

from torch import Tensor, nn

from attn_project.errors import ConfigError
from attn_project.model.attention import (
    DirectionalSingleHeadAttention,
    MultiHeadAttention,
    RelativePositionBias,
    SingleHeadAttention,
)
from attn_project.model.config import INITS, ModelConfig


def init_projections(attention: nn.Module, init: str) -> None:
    """'default' keeps PyTorch's nn.Linear init; 'normal' draws W_Q, W_K, W_V from unscaled N(0,1)."""
    if init not in INITS:
        raise ConfigError(f"init='{init}': choose one of {INITS}")
    if init == "normal":
        for name in ("w_q", "w_k", "w_v"):
            linear = getattr(attention, name)
            nn.init.normal_(linear.weight, 0.0, 1.0)
            nn.init.zeros_(linear.bias)


def attention_layer(config: ModelConfig) -> SingleHeadAttention | MultiHeadAttention:
    if config.directional_values:
        return DirectionalSingleHeadAttention(config.d_model)
    if config.num_heads == 1:
        return SingleHeadAttention(config.d_model)
    return MultiHeadAttention(config.d_model, config.num_heads)


class TransformerBlock(nn.Module):
    """The project's one transformer block: the given attention, a residual connection, LayerNorm,
    an optional GELU MLP, dropout. ``norm_first`` (pre-LN, the language models': x + attention(LN(x)),
    then x + MLP(LN(x))) or post-LN (the deep classifier's: LN(x + attention(x)), then LN(h + MLP(h))).
    x [B, T, d] → (x [B, T, d], the weights [B, H, T, T] or None on the fused path)."""

    def __init__(self, attention: SingleHeadAttention | MultiHeadAttention, d_model: int, *,
                 norm_first: bool, d_ff: int | None, dropout: float,
                 relative_bias: RelativePositionBias | None = None, causal: bool = False):
        super().__init__()
        self.norm_first, self.causal = norm_first, causal
        if norm_first:  # each model's old parameter order (seeded runs and optimizer states carry over)
            self.attention_norm = nn.LayerNorm(d_model)
        self.attention: SingleHeadAttention | MultiHeadAttention = attention
        self.relative_bias = relative_bias
        self.dropout = nn.Dropout(dropout)
        if not norm_first:
            self.attention_norm = nn.LayerNorm(d_model)
        if norm_first:
            self.mlp_norm = nn.LayerNorm(d_model) if d_ff else None
        self.mlp = (nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
                    if d_ff else None)
        if not norm_first:
            self.mlp_norm = nn.LayerNorm(d_model) if d_ff else None
        self.register_load_state_dict_pre_hook(rename_classifier_keys)

    def attend(self, x: Tensor, padding: Tensor | None, need_weights: bool) -> tuple[Tensor, Tensor | None]:
        bias = None if self.relative_bias is None else self.relative_bias(x.size(1))  # [H, T, T]
        causal = {"causal": True} if self.causal else {}  # only multi-head attention takes it
        return self.attention(x, padding, need_weights=need_weights, attn_bias=bias, **causal)

    def forward(self, x: Tensor, padding: Tensor | None,
                need_weights: bool = True) -> tuple[Tensor, Tensor | None]:
        """x [B, T, d], padding [B, T] (True: padding; None: none) → (x [B, T, d], weights or None)."""
        if self.norm_first:
            attended, weights = self.attend(self.attention_norm(x), padding, need_weights)
            x = x + self.dropout(attended)
            if self.mlp is not None and self.mlp_norm is not None:
                x = x + self.dropout(self.mlp(self.mlp_norm(x)))
            return x, weights
        attended, weights = self.attend(x, padding, need_weights)
        h = after_attention(x, attended, self.attention_norm, self.mlp, self.mlp_norm, self.dropout)
        return h, weights


def after_attention(x: Tensor, attended: Tensor, norm: nn.Module, mlp: nn.Module | None,
                    mlp_norm: nn.Module | None, dropout: nn.Module, residual: bool = True) -> Tensor:
    """A post-LN block after its attention, position by position: LN(x + attended), then
    LN(h + MLP(h)) — the deep layers' and the one-layer classifier's (whose controls can drop the
    residual or make the norms identities)."""
    h = dropout(attended)
    h = norm(x + h if residual else h)
    if mlp is not None and mlp_norm is not None:
        h = mlp_norm(h + dropout(mlp(h)))
    return h


OLD_CLASSIFIER_NAMES = {"norm.": "attention_norm.", "ff.": "mlp.", "ff_norm.": "mlp_norm."}


def rename_classifier_keys(module: nn.Module, state_dict: dict, prefix: str, *args: object) -> None:
    """A deep classifier checkpoint written before the one block (its norm, ff, ff_norm) loads as is."""
    for key in [k for k in state_dict if k.startswith(prefix)]:
        for old, new in OLD_CLASSIFIER_NAMES.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old):]] = state_dict.pop(key)


def classifier_block(config: ModelConfig) -> TransformerBlock:
    """A deep classifier's layer: post-LN, its attention kind and init, its own relative bias, the
    MLP when ``model.feed_forward``."""
    attention = attention_layer(config)
    init_projections(attention, config.init)
    bias = RelativePositionBias(config.num_heads) if config.relative_bias else None
    d_ff = (config.d_ff or 4 * config.d_model) if config.feed_forward else None
    return TransformerBlock(attention, config.d_model, norm_first=False, d_ff=d_ff, dropout=config.dropout,
                            relative_bias=bias)
