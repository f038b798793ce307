"""Language models on the encoder (``model.encoder``): the hidden state at each position → a
distribution over the vocabulary through the input embedding itself (tied weights, no bias: GPT-2's
head, so a causal model exports to it exactly).
Masked (BERT): predict the words at the chosen positions from both sides; causal (GPT): predict each
next word from the left context only (the encoder's causal flag)."""

from __future__ import annotations

from torch import Tensor, nn

from attn_project.data.labels import IGNORE
from attn_project.model.encoder import Encoder, EncoderConfig


class LanguageModel(nn.Module):
    """ids [B, T] → (logits [B, T, V], every layer's weights [B, L, H, T, T] or None)."""

    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)

    @property
    def causal(self) -> bool:
        return self.config.causal

    def forward(self, ids: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None]:
        hidden, weights = self.encoder(ids, need_weights)  # [B, T, d]
        logits = hidden @ self.encoder.tokens.weight.T  # [B, T, V]: tied to the input embedding
        return logits, weights

    def scored_logits(self, ids: Tensor, scored: Tensor) -> Tensor:
        """The logits at the ``scored`` positions only ([N, V]; a masked LM scores 15 % of them)."""
        hidden, _ = self.encoder(ids)  # [B, T, d]
        return hidden[scored] @ self.encoder.tokens.weight.T  # [N, V]

    def loss(self, ids: Tensor, labels: Tensor) -> Tensor:
        """Mean cross-entropy over the scored positions (``labels`` ≠ -100): a masked LM's chosen
        positions; a causal LM's next words (``next_word_labels``)."""
        scored = labels != IGNORE
        return nn.functional.cross_entropy(self.scored_logits(ids, scored), labels[scored])
