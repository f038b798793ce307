"""Token embeddings plus a positional encoding (sinusoidal or learned)."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from attn_project.errors import ConfigError


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """The fixed sin/cos table of "Attention Is All You Need": [max_len, d_model]."""
    position = torch.arange(max_len).unsqueeze(1)  # [T, 1]
    freq = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # [d/2]
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(position * freq)
    table[:, 1::2] = torch.cos(position * freq[: d_model // 2])
    return table


class PositionalEncoding(nn.Module):
    """Adds position information: a fixed sinusoidal table or a learned embedding."""

    def __init__(self, max_len: int, d_model: int, kind: str = "sinusoidal"):
        super().__init__()
        if kind not in ("sinusoidal", "learned"):
            raise ConfigError(f"positional='{kind}': choose 'sinusoidal' or 'learned'")
        if max_len <= 0:
            raise ConfigError(f"max_len={max_len} must be a positive number of tokens")
        self.kind, self.max_len = kind, max_len
        if kind == "learned":
            self.table = nn.Parameter(torch.randn(max_len, d_model) * 0.02)
        else:
            self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, length: int) -> Tensor:
        """Position vectors for positions 0..length-1: [length, d_model]."""
        if length > self.max_len:
            raise ValueError(f"sequence of {length} tokens exceeds max_len={self.max_len}")
        return self.table[:length]


class TokenAndPositionEmbedding(nn.Module):
    """ids [B, T] → token embedding + position vector, [B, T, d_model].

    With ``piece_vocab_size`` (``data.tokenizer=pieces``), ids are [B, T, 1 + P]: each word's id and
    its subword pieces ([PAD] where it has fewer than P), and a word's vector is its word embedding
    plus the mean of its pieces' embeddings — so words with the same pieces get the same vector
    beyond their word id (a rare word's id is [UNK]).
    """

    def __init__(self, vocab_size: int, d_model: int, max_len: int, positional: str = "sinusoidal",
                 padding_idx: int | None = None, piece_vocab_size: int = 0):
        super().__init__()
        self.token = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)
        self.piece = (nn.Embedding(piece_vocab_size, d_model, padding_idx=padding_idx)
                      if piece_vocab_size else None)
        self.position = PositionalEncoding(max_len, d_model, positional)

    def forward(self, ids: Tensor) -> Tensor:
        if self.piece is None:
            return self.token(ids) + self.position(ids.size(1))  # [B, T, d] + [T, d]
        return self.token(ids[..., 0]) + self.mean_of_pieces(ids[..., 1:]) + self.position(ids.size(1))

    def mean_of_pieces(self, pieces: Tensor) -> Tensor:
        """pieces [B, T, P] → the mean of each word's piece vectors, [B, T, d] ([PAD] pieces left out)."""
        assert self.piece is not None
        pad = self.piece.padding_idx if self.piece.padding_idx is not None else -1
        present = pieces.ne(pad)  # [B, T, P]
        summed = (self.piece(pieces) * present.unsqueeze(-1)).sum(-2)  # [B, T, P, d] → [B, T, d]
        return summed / present.sum(-1, keepdim=True).clamp_min(1)

    def masked(self, mask_id: int, length: int) -> Tensor:
        """The embedding of [MASK] at every position 0..length-1: [length, d_model] (with pieces: a
        masked word's pieces are all [MASK] too)."""
        mask_vec = self.token.weight[mask_id]  # [d]
        if self.piece is not None:
            mask_vec = mask_vec + self.piece.weight[mask_id]
        return mask_vec + self.position(length)  # [T, d]
