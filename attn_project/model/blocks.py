"""The layers of a deeper model (``model.num_layers`` ≥ 2): ordinary post-LN encoder blocks built
from the project's own attention modules — attention (one head, several heads, or the directional
head; each layer with its own relative bias when ``model.relative_bias``), a residual connection,
LayerNorm, and the GELU MLP when ``model.feed_forward``. Residual and LayerNorm are always on in
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


class EncoderBlock(nn.Module):
    """x [B, T, d] → LayerNorm(x + attention(x)) (→ LayerNorm(h + MLP(h))), and the weights [B, H, T, T]."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.attention = attention_layer(config)
        init_projections(self.attention, config.init)
        self.relative_bias = RelativePositionBias(config.num_heads) if config.relative_bias else None
        self.dropout = nn.Dropout(config.dropout)
        self.norm = nn.LayerNorm(config.d_model)
        self.ff = None
        if config.feed_forward:
            d_ff = config.d_ff or 4 * config.d_model
            d_model = config.d_model
            self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
            self.ff_norm = nn.LayerNorm(config.d_model)

    def forward(self, x: Tensor, padding: Tensor) -> tuple[Tensor, Tensor]:
        """x [B, T, d], padding [B, T] (True: padding) → (x [B, T, d], weights [B, H, T, T])."""
        bias = None if self.relative_bias is None else self.relative_bias(x.size(1))  # [H, T, T]
        attended, weights = self.attention(x, padding, need_weights=True, attn_bias=bias)
        h = self.norm(x + self.dropout(attended))
        if self.ff is not None:
            h = self.ff_norm(h + self.dropout(self.ff(h)))
        return h, weights
