"""MaskedTokenClassifier: embeddings → one attention block (or ``model.num_layers`` encoder
blocks) → the vector at [MASK] → one logit per class.

Two ways to run it, giving identical numbers for the same masked position:

- ``forward(ids, mask_positions)``: ``ids`` already holds [MASK] at ``mask_positions``; one
  ordinary attention pass per masked sentence ("examples" batching).
- ``forward_all_masks(ids)``: ``ids`` is the unmasked sentence; every position is classified
  as if it alone were masked, in one pass ("sentences" batching). Exact for one attention layer,
  because the masked variants differ only at their own position (see ``swap_diagonal_attention``).

A deep model (``num_layers`` ≥ 2) is not: masking word i changes every layer-1 output, so its
``forward_all_masks`` runs one masked copy per position (exact, T times the work; for the report and
the analysis), and training uses one masked copy per target (``data.batching=examples``). Its
weights are the heads of all layers side by side, ``[batch, layer·head, query, key]``, layer-major
(head k is layer k // H, head k % H: ``L<l>H<h>``, as the pretrained lens names them).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from attn_project.model.attention import (
    MultiHeadAttention,
    OffsetValues,
    RelativePositionBias,
    ReplaceWeights,
    SingleHeadAttention,
)
from attn_project.model.blocks import after_attention, attention_layer, classifier_block, init_projections
from attn_project.model.config import ModelConfig
from attn_project.model.controls import GOLD, fixed_row_scores, rule_scores
from attn_project.model.embeddings import TokenAndPositionEmbedding


def silence_queries(attention: SingleHeadAttention | MultiHeadAttention) -> None:
    """W_Q fixed at zero: every Q·K score is 0, so only a bias (or nothing: uniform) ranks the keys."""
    for parameter in attention.w_q.parameters():
        nn.init.zeros_(parameter)
        parameter.requires_grad_(False)


class MaskedTokenClassifier(nn.Module):
    """The task's class of the word at a [MASK], from one attention layer (or several) over the sentence."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        d_model = config.d_model
        self.mask_id, self.pad_id, self.num_heads = config.mask_id, config.pad_id, config.num_heads
        self.embed = TokenAndPositionEmbedding(config.vocab_size, d_model, config.max_len,
                                               config.positional, config.pad_id, config.piece_vocab_size)
        # token vectors of norm ~1 (std 1/√d), so the position vectors are not drowned out
        nn.init.normal_(self.embed.token.weight, 0.0, config.embedding_std or d_model ** -0.5)
        with torch.no_grad():
            self.embed.token.weight[config.pad_id].zero_()
        if config.deep:
            self.build_deep(config)
            return
        self.attention = attention_layer(config)
        init_projections(self.attention, config.init)
        if config.scores != "content":  # a trained control: no Q·K, the scores are position alone
            silence_queries(self.attention)
        # the learned relative bias: the trained model's option, the position-only head's only scores;
        # the fixed rules (uniform, offset, gold_*) have none, whatever model.relative_bias says
        learned_bias = (config.relative_bias and config.scores == "content") or config.scores == "position"
        self.relative_bias = RelativePositionBias(config.num_heads) if learned_bias else None
        self.offset_values = OffsetValues(d_model) if config.values == "offsets" else None
        self.residual = config.residual
        self.dropout = nn.Dropout(config.dropout)
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.norm = nn.LayerNorm(d_model) if config.layer_norm else nn.Identity()
        self.ff = None
        if config.feed_forward:
            d_ff = config.d_ff or 4 * d_model
            self.ff = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))
            self.ff_norm = nn.LayerNorm(d_model) if config.layer_norm else nn.Identity()
        self.classifier = nn.Linear(d_model, config.num_classes)

    def build_deep(self, config: ModelConfig) -> None:
        """The encoder blocks of a deep model, and what its embedding and read-out need."""
        self.layers = nn.ModuleList([classifier_block(config) for _ in range(config.num_layers)])
        self.relative_bias, self.offset_values, self.residual = None, None, True
        self.embedding_dropout = nn.Dropout(config.embedding_dropout)
        self.classifier = nn.Linear(config.d_model, config.num_classes)

    @property
    def deep(self) -> bool:
        return self.config.deep

    def encode(self, ids: Tensor) -> tuple[Tensor, Tensor]:
        """A deep model's pass over ids [B, T] (already masked) → (the last layer's vectors
        [B, T, d], every layer's weights [B, L·H, T, T])."""
        x = self.embed_words(ids)  # [B, T, d]
        padding = self.word_ids(ids).eq(self.pad_id)
        weights = []
        for layer in self.layers:
            x, layer_weights = layer(x, padding)
            weights.append(layer_weights)
        return x, torch.cat(weights, dim=1)  # [B, L·H, T, T]

    def forward_deep_all_masks(self, ids: Tensor, max_weights: int = 2 ** 24) -> tuple[Tensor, Tensor]:
        """ids [B, T] unmasked → (logits [B, T, C], mask map [B, L·H, T, T]), exactly: one masked copy
        per position, in chunks of at most ``max_weights`` attention weights."""
        b, t = self.word_ids(ids).shape
        heads = self.config.num_layers * self.config.num_heads
        copies = ids.repeat_interleave(t, dim=0)  # [B·T, T(, 1 + P)]: copy k masks position k % T
        positions = torch.arange(t, device=ids.device).repeat(b)  # [B·T]
        chunk = max(1, max_weights // (heads * t * t))
        logits, rows = [], []
        for start in range(0, b * t, chunk):
            part, at = copies[start: start + chunk], positions[start: start + chunk]
            part_logits, weights = self(part, at)
            logits.append(part_logits)
            rows.append(weights[torch.arange(len(at), device=ids.device), :, at])  # [chunk, L·H, T]
        mask_map = torch.cat(rows).view(b, t, heads, t).transpose(1, 2)  # [B·T, L·H, T] → [B, L·H, T, T]
        return torch.cat(logits).view(b, t, -1), mask_map  # [B, T, C]

    def forward_masked(self, ids: Tensor, masked: Tensor) -> Tensor:
        """A deep model's logits [N, C] at every [MASK] of ids [B, T] (``masked`` [B, T], N of them
        True), from one pass: BERT-style training with several masks per sentence."""
        if not self.deep:
            raise ValueError("several masks at once (data.batching=random_masks) are for a deep model")
        h, _ = self.encode(ids)  # [B, T, d]
        return self.classifier(h[masked])  # [N, C]

    def word_ids(self, ids: Tensor) -> Tensor:
        """[B, T]: the word ids (with pieces, ids is [B, T, 1 + P] and the word id comes first)."""
        return ids if ids.dim() == 2 else ids[..., 0]

    def drop_words(self, ids: Tensor) -> Tensor:
        """In training, each word becomes [UNK] with probability ``word_dropout`` ([MASK] and
        padding stay): the model learns to use context it has not memorised, and [UNK] is trained.
        With pieces only the word id is dropped: the word is then known by its pieces alone, as a
        rare word is."""
        if not self.training or self.config.word_dropout == 0:
            return ids
        words = self.word_ids(ids)
        is_word = words.ne(self.pad_id) & words.ne(self.mask_id)
        drop = torch.rand(words.shape, device=ids.device) < self.config.word_dropout
        dropped = words.masked_fill(drop & is_word, self.config.unk_id)
        return dropped if ids.dim() == 2 else torch.cat([dropped.unsqueeze(-1), ids[..., 1:]], -1)

    def embed_words(self, ids: Tensor) -> Tensor:
        """ids [B, T] → [B, T, d]: word dropout, embeddings + positions, embedding dropout
        (``values=positions``: the positions alone — no word reaches the values)."""
        if self.config.values == "positions":
            return self.embedding_dropout(self.embed.position(ids.size(1)).expand(ids.size(0), -1, -1))
        return self.embedding_dropout(self.embed(self.drop_words(ids)))

    def mask_vectors(self, length: int) -> Tensor:
        """[MASK] at every position 0..length-1: [T, d] (``values=positions``: the position alone)."""
        if self.config.values == "positions":
            return self.embed.position(length)
        return self.embed.masked(self.mask_id, length)

    def block(self, x: Tensor, attended: Tensor) -> Tensor:
        """What follows attention, position by position: residual, layer norm, feed-forward."""
        return after_attention(x, attended, self.norm, self.ff, getattr(self, "ff_norm", None), self.dropout,
                               self.residual)

    def bias(self, length: int, heads: Tensor | None = None, rows: Tensor | None = None) -> Tensor | None:
        """The score bias: the relative-position bias [H, T, T], a rule's [B|1, 1, T, T] (an offset,
        the gold tree ``heads`` [B, T]: ``controls``), a pretrained head's ``rows`` [B, T, T] as
        log-weights, or None."""
        if self.config.scores == "pretrained":
            return fixed_row_scores(rows)
        if self.config.scores in ("offset", *GOLD):
            return rule_scores(self.config.scores, length, self.config.fixed_offset, heads,
                               self.classifier.weight.device)
        return None if self.relative_bias is None else self.relative_bias(length)

    def bias_rows(self, length: int, positions: Tensor, heads: Tensor | None = None,
                  rows: Tensor | None = None) -> Tensor | None:
        """The bias of the query rows at ``positions`` [B]: [B, H|1, 1, T], or None."""
        bias = self.bias(length, heads, rows)
        if bias is None:
            return None
        bias = (bias if bias.dim() == 4 else bias.unsqueeze(0)).expand(len(positions), -1, -1, -1)
        batch = torch.arange(len(positions), device=positions.device)
        return bias[batch, :, positions].unsqueeze(2)  # [B, H|1, T] → [B, H|1, 1, T]

    def forward(self, ids: Tensor, mask_positions: Tensor, need_weights: bool = True,
                heads: Tensor | None = None, rows: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        """ids [B, T] with [MASK] at mask_positions [B] → (logits [B, C], weights [B, H, T, T]).

        Without ``need_weights`` only the [MASK]'s own row is computed: the classifier reads
        nothing else, and what follows attention acts position by position. (The directional
        head always computes every row: its values need the whole weight matrix split by side.)
        ``heads`` [B, T]: the gold tree, read by the oracles (``scores=gold_*``) only; ``rows``
        [B, T, T]: a pretrained head's rows, read by ``scores=pretrained`` only.
        """
        batch = torch.arange(ids.size(0), device=ids.device)
        if self.deep:
            ids = self.mask_at(ids, mask_positions)
            h, weights = self.encode(ids)  # [B, T, d], [B, L·H, T, T]
            return self.classifier(h[batch, mask_positions]), weights
        x = self.embed_words(ids)  # [B, T, d]
        padding = self.word_ids(ids).eq(self.pad_id)
        if not need_weights and self.attention.attends_from_query and self.offset_values is None:
            x_mask = x[batch, mask_positions].unsqueeze(1)  # [B, 1, d]
            attended, _ = self.attention(x, padding, need_weights=False, query=x_mask,
                                         attn_bias=self.bias_rows(ids.size(1), mask_positions, heads, rows))
            return self.classifier(self.block(x_mask, attended)[:, 0]), None  # [B, C]
        weights_needed = need_weights or self.offset_values is not None  # offset values mix the weights
        attended, weights = self.attention(x, padding, need_weights=weights_needed,
                                           attn_bias=self.bias(ids.size(1), heads, rows))
        if self.offset_values is not None:
            attended = self.offset_values(weights)  # [B, T, d]: where each row looks, not what is there
        h = self.block(x, attended)  # [B, T, d]
        return self.classifier(h[batch, mask_positions]), weights  # [B, C]

    def contribution_norms(self, ids: Tensor) -> Tensor:
        """ids [B, T] → [B, H, T, T]: the norm of what key j adds to the [MASK] at row i (before the
        attention weight; several heads: through W_O), as ``forward_all_masks`` mixes it."""
        x = self.embed_words(ids)  # [B, T, d]
        x_mask = self.mask_vectors(ids.size(1)).unsqueeze(0)  # [1, T, d]
        if self.offset_values is not None:
            return self.offset_values.contribution_norms(ids.size(1)).expand(ids.size(0), -1, -1, -1)
        return self.attention.contribution_norms(x, x_mask)

    def mask_at(self, ids: Tensor, positions: Tensor) -> Tensor:
        """ids with [MASK] at ``positions`` [B], as ``ExampleBatches`` masks them."""
        masked = ids.clone()
        masked[torch.arange(ids.size(0), device=ids.device), positions] = self.mask_id
        return masked

    @property
    def linear_after_attention(self) -> bool:
        """No residual, LayerNorm or MLP: the logits are a linear read-out of the attention output,
        so each key's exact share of them is defined (``key_contributions``)."""
        return not (self.deep or self.config.residual or self.config.layer_norm or self.config.feed_forward)

    @property
    def has_effective_attention(self) -> bool:
        """Norm-based effective attention is defined for one layer; in a deep model each layer's
        output also carries its input through the residual, and a key's share of the [MASK]'s
        vector is no longer its weight times its value's norm (left out, not approximated)."""
        return not self.deep

    def key_contributions(self, ids: Tensor, weights: Tensor, logits: Tensor) -> Tensor:
        """[B, H, T, T]: what key j adds, through head h, to row i's margin — the predicted class's
        logit minus the mean of the others' — α_hij · (w_pred − w̄_other) · value. Summed over heads
        and keys it is that margin less the classifier's (and W_O's) bias. Only where
        ``linear_after_attention``."""
        if not self.linear_after_attention:
            raise ValueError("key contributions are exact only for a model linear after attention")
        classes = logits.size(-1)
        sign = torch.full_like(logits, -1.0 / (classes - 1))  # [B, T, C]
        sign.scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        direction = sign @ self.classifier.weight  # [B, T, d_model]: one read-out direction per row
        if self.offset_values is not None:
            return weights * self.offset_values.key_scores(direction)
        x = self.embed_words(ids)  # [B, T, d]
        x_mask = self.mask_vectors(ids.size(1)).unsqueeze(0)  # [1, T, d]
        return weights * self.attention.key_scores(direction, x, x_mask)

    def forward_all_masks(self, ids: Tensor, replace_weights: ReplaceWeights | None = None,
                          heads: Tensor | None = None, rows: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """ids [B, T] unmasked → (logits [B, T, C] of "token t masked", mask map [B, H, T, T]).
        ``replace_weights`` (weights → weights) swaps the mask map's rows before the values are
        mixed: the classifier then reads what another attention would give it (interventions).
        ``heads`` [B, T]: the gold tree, read by the oracles (``scores=gold_*``) only; ``rows``
        [B, T, T]: a pretrained head's rows (``scores=pretrained``) only."""
        if self.deep:
            if replace_weights is not None:
                raise ValueError("interventions replace the one layer's rows: not defined for a deep model")
            return self.forward_deep_all_masks(ids)
        x = self.embed_words(ids)  # [B, T, d]
        # the same for every sentence: [1, T, d], broadcast against the batch (projected once)
        x_mask = self.mask_vectors(ids.size(1)).unsqueeze(0)
        attended, weights = self.attention.forward_mask_rows(x, x_mask, self.word_ids(ids).eq(self.pad_id),
                                                             attn_bias=self.bias(ids.size(1), heads, rows),
                                                             replace_weights=replace_weights)
        if self.offset_values is not None:
            attended = self.offset_values(weights)  # [B, T, d]: where each row looks, not what is there
        h = self.block(x_mask, attended)  # [B, T, d]: row t = the [MASK]'s vector at t
        return self.classifier(h), weights
