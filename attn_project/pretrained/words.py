"""Word-level attention from a subword model's attention, as Clark et al. (2019) do: attention *to*
a word is the sum over its pieces, attention *from* a word the mean over its pieces. Special tokens
([CLS], [SEP], <s>, </s>) stay in the softmax — their weight is reported apart, per layer — but are
never a word that is pointed at, so a word's row sums to 1 minus what it gives the specials; the lens
then renormalises each row over the sentence's words (``over_words``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class PieceBatch:
    """Sentences as padded piece ids, with each piece's word (-1: a special token or padding)."""

    input_ids: Tensor  # [B, P]
    attention_mask: Tensor  # [B, P] 1 = a real piece (specials included)
    word_of_piece: Tensor  # [B, P] the word index, -1 for specials and padding
    num_words: Tensor  # [B]


def piece_batch(encodings: Sequence, pad_id: int) -> PieceBatch:
    """Tokenizer encodings (``tokenizers.Encoding`` of pre-split words) → one padded batch."""
    width = max(len(e.ids) for e in encodings)
    batch = len(encodings)
    ids = torch.full((batch, width), pad_id, dtype=torch.long)
    mask = torch.zeros(batch, width, dtype=torch.long)
    word = torch.full((batch, width), -1, dtype=torch.long)
    special = torch.zeros(batch, width, dtype=torch.bool)
    for b, e in enumerate(encodings):
        n = len(e.ids)
        ids[b, :n], mask[b, :n] = torch.tensor(e.ids), 1
        word[b, :n] = torch.tensor([-1 if w is None else w for w in e.word_ids])
        special[b, :n] = torch.tensor(e.special_tokens_mask, dtype=torch.bool)
    word[special] = -1
    return PieceBatch(ids, mask, word, word.max(1).values + 1)


def word_attention(pieces: Tensor, word_of_piece: Tensor, num_words: int) -> Tensor:
    """Piece attention [B, H, P, P] → word attention [B, H, W, W]: to a word = sum over its pieces
    (columns), from a word = mean over its pieces (rows). Specials' columns are dropped (their
    weight is not a word's), so rows sum to 1 − the weight on specials; padded words are zero.
    Sums by scatter_add over each piece's word (about twice as fast as one-hot matrix products, and
    the same numbers)."""
    b, h, p, _ = pieces.shape
    index = torch.where(word_of_piece >= 0, word_of_piece, num_words)  # [B, P]: specials → a spare slot
    to_words = pieces.new_zeros(b, h, p, num_words + 1).scatter_add_(
        -1, index[:, None, None, :].expand(b, h, p, p), pieces)  # [B, H, P, W + 1]: summed per word
    from_words = pieces.new_zeros(b, h, num_words + 1, num_words + 1).scatter_add_(
        2, index[:, None, :, None].expand(b, h, p, num_words + 1), to_words)  # [B, H, W + 1, W + 1]
    counts = pieces.new_zeros(b, num_words + 1).scatter_add_(1, index, pieces.new_ones(b, p)).clamp_min(1)
    return (from_words / counts[:, None, :, None])[:, :, :num_words, :num_words]  # [B, H, W, W]


def over_words(words: Tensor) -> Tensor:
    """Word attention [B, H, W, W] with each row renormalised over the sentence's words (what the
    specials took removed): entropy, weights and alignment are measured on these rows, the special
    share (``special_share``, of the rows before this) reported beside. Padded rows stay zero."""
    total = words.sum(-1, keepdim=True)  # [B, H, W, 1]
    return torch.where(total > 0, words / total.clamp_min(1e-12), words)


def special_share(words: Tensor, num_words: Tensor) -> Tensor:
    """Word attention [B, H, W, W] and each sentence's word count [B] → [B, H]: the weight a word gives
    special tokens (averaged over its pieces, then over the sentence's words). A piece's row sums to
    1 over the real pieces (padding gets none), so what a word row lacks of 1 went to the specials."""
    real = (torch.arange(words.size(-1), device=words.device) < num_words[:, None]).float()  # [B, W]
    lacking = (1 - words.sum(-1)) * real[:, None]  # [B, H, W]
    return lacking.sum(-1) / real.sum(-1, keepdim=True).clamp_min(1)
