"""A transformer encoder built from the guide's own multi-head attention: token + learned position
embeddings → N pre-LayerNorm blocks (x + attention(LN(x)), then x + MLP(LN(x)), GELU, dropout) →
a final LayerNorm. The conventions are GPT-2's (pre-LN, learned positions, a final LayerNorm, the
exact GELU), so a causal model maps onto an existing architecture one to one.

Attention takes a padding mask and a causal flag. Without weights asked for it runs PyTorch's fused
kernel; with them, the from-scratch path, returning every layer's weights ``[B, L, H, T, T]``
(tests/model/test_encoder.py: the same outputs and gradients either way)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from attn_project.errors import ConfigError
from attn_project.model.attention import MultiHeadAttention
from attn_project.model.blocks import TransformerBlock


@dataclass
class EncoderConfig:
    """The encoder's sizes (``conf/model/lm_*.yaml``); ``vocab_size`` and ``pad_id`` come from the data."""

    vocab_size: int
    max_len: int = 128
    d_model: int = 128
    num_heads: int = 4
    num_layers: int = 4
    d_ff: int | None = None  # None: 4 × d_model
    dropout: float = 0.1
    causal: bool = False
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "max_len", "d_model", "num_layers"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"model.{name}={getattr(self, name)!r} must be a positive whole number")
        if self.num_heads < 1 or self.d_model % self.num_heads:
            raise ConfigError(f"model.num_heads={self.num_heads} must be ≥ 1 and divide "
                              f"model.d_model={self.d_model}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"model.dropout={self.dropout} must be in [0, 1)")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ConfigError(f"pad_id={self.pad_id} is not an id of the {self.vocab_size}-word vocabulary")


INIT_STD = 0.02  # GPT-2's and BERT's: with tied output weights, N(0, 1) embeddings start at logits of ±d


def init_weights(module: nn.Module) -> None:
    """Linear and embedding weights from N(0, 0.02), biases 0 (LayerNorm keeps its 1 and 0)."""
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, 0.0, INIT_STD)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)


def pre_ln_block(config: EncoderConfig) -> TransformerBlock:
    """x [B, T, d] → x + attention(LN(x)) → (that) + MLP(LN(that)), and the weights [B, H, T, T]."""
    return TransformerBlock(MultiHeadAttention(config.d_model, config.num_heads), config.d_model,
                            norm_first=True, d_ff=config.d_ff or 4 * config.d_model, dropout=config.dropout,
                            causal=config.causal)


class Encoder(nn.Module):
    """ids [B, T] → hidden states [B, T, d] (after the final LayerNorm) and, on request, every
    layer's attention weights [B, L, H, T, T]; padding is ``ids == pad_id``."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.positions = nn.Embedding(config.max_len, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList([pre_ln_block(config) for _ in range(config.num_layers)])
        self.final_norm = nn.LayerNorm(config.d_model)
        self.apply(init_weights)

    def forward(self, ids: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        length = ids.size(1)
        if length > self.config.max_len:
            raise ConfigError(f"a sequence of {length} tokens is longer than model.max_len="
                              f"{self.config.max_len}")
        padding = ids == self.config.pad_id  # [B, T]
        position = torch.arange(length, device=ids.device)
        x = self.dropout(self.tokens(ids) + self.positions(position))  # [B, T, d]
        layers = []
        for block in self.blocks:
            x, weights = block(x, padding if padding.any() else None, need_weights)
            layers.append(weights)
        stacked = torch.stack(layers, dim=1) if need_weights else None  # [B, L, H, T, T]
        return self.final_norm(x), stacked
