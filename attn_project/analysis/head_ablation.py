"""Does a head matter for what the model predicts? Mean-ablate it — replace its output (before W_O)
by its mean over the dev sentences' words, at every position — and measure the change in the
language model's top-1 on the treebank's test words: on the words a relation links (its dependents
and their heads) against the other words, paired by sentence, beside the same ablation of a random
other head of the same layer.

A masked LM is scored on 15 % of each sentence's words, every one [MASK] (masks fixed by a seed); a
causal LM on every next word.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import Tensor

from attn_project.analysis.report_schema import Estimate
from attn_project.analysis.significance import Bootstrap
from attn_project.data.conllu import Sentence
from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import lm_batch
from attn_project.model.attention import MultiHeadAttention
from attn_project.model.blocks import TransformerBlock
from attn_project.model.language_model import LanguageModel

Rows = list[tuple[int, np.ndarray, np.ndarray]]  # (sentence index, token ids, each token's word)


@dataclass
class ScoredWords:
    """The scored words of a split: per word, its sentence, its position and whether it was right."""

    sentence: np.ndarray  # [N]
    position: np.ndarray  # [N] the word (of the treebank sentence) the scored token belongs to
    correct: np.ndarray  # [N]


def encoded(tokenizer: Tokenizer, sentences: list[Sentence], max_len: int) -> Rows:
    """(sentence index, token ids, each token's word) of the sentences within the model's positions
    (a word's pieces share its index)."""
    out = []
    for index, sentence in enumerate(sentences):
        encoding = tokenizer.encode(sentence.tokens, is_pretokenized=True)
        if 1 < len(encoding.ids) <= max_len:
            out.append((index, np.array(encoding.ids), np.array(encoding.word_ids)))
    return out


def batches(model: LanguageModel, rows: Rows, seed: int,
            size: int = 128) -> Iterator[tuple[Rows, dict[str, Tensor]]]:
    """The same batches (and masks) every time it is called with the same seed."""
    generator = torch.Generator().manual_seed(seed)
    objective = "causal" if model.causal else "mlm"
    for start in range(0, len(rows), size):
        part = rows[start:start + size]
        yield (part,
               lm_batch([ids for _, ids, _ in part], objective, model.config.vocab_size, generator,
                        mask_all=True))


def scored_words(model: LanguageModel, rows: Rows, seed: int) -> ScoredWords:
    sentence, position, correct = [], [], []
    model.eval()
    with torch.no_grad():
        for part, batch in batches(model, rows, seed):
            where = batch["labels"] != IGNORE  # [B, T]
            logits = model.scored_logits(batch["ids"], where)  # [N, V]
            b, t = where.nonzero(as_tuple=True)
            target = t + 1 if model.causal else t  # a causal LM at t predicts the word at t + 1
            sentence.append(np.array([part[k][0] for k in b.tolist()], dtype=np.int64))
            words = [part[k][2][j] for k, j in zip(b.tolist(), target.tolist(), strict=True)]
            position.append(np.array(words, dtype=np.int64))
            correct.append((logits.argmax(-1) == batch["labels"][where]).numpy())
    return ScoredWords(*(np.concatenate(c) for c in (sentence, position, correct)))


def output_projection(model: LanguageModel, layer: int) -> torch.nn.Linear:
    """The layer's W_O: its input is the heads' outputs side by side [B, T, d_model]."""
    block = cast(TransformerBlock, model.encoder.blocks[layer])
    return cast(MultiHeadAttention, block.attention).w_o


def head_slice(model: LanguageModel, head: int) -> slice:
    d_head = model.config.d_model // model.config.num_heads
    return slice(head * d_head, (head + 1) * d_head)


def head_mean(model: LanguageModel, rows: Rows, layer: int, head: int) -> Tensor:
    """The head's mean output over the sentences' real words [d_head] (unmasked input)."""
    total, count = torch.zeros(model.config.d_model // model.config.num_heads), 0
    captured: list[Tensor] = []
    projection = output_projection(model, layer)
    handle = projection.register_forward_pre_hook(lambda _m, args: captured.append(args[0]))
    try:
        with torch.no_grad():
            for start in range(0, len(rows), 128):
                part = [ids for _, ids, _ in rows[start:start + 128]]
                ids = lm_batch(part, "causal", model.config.vocab_size, torch.Generator())["ids"]  # [B, T]
                captured.clear()
                model.encoder(ids)
                real = ids != model.config.pad_id  # [B, T]
                total += captured[0][..., head_slice(model, head)][real].sum(0)
                count += int(real.sum())
    finally:
        handle.remove()
    return total / max(count, 1)


@contextmanager
def mean_ablated(model: LanguageModel, layer: int, head: int, mean: Tensor) -> Iterator[None]:
    """Within the block, the head's output is its mean at every position."""
    part = head_slice(model, head)

    def replace(_module: torch.nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor]:
        merged = args[0].clone()  # [B, T, d_model]: the heads side by side, before W_O
        merged[..., part] = mean
        return (merged,)

    handle = output_projection(model, layer).register_forward_pre_hook(replace)
    try:
        yield
    finally:
        handle.remove()


def linked_words(sentences: list[Sentence], relation: str, words: ScoredWords) -> np.ndarray:
    """[N]: the scored word is a dependent with this relation or the head of one."""
    out = np.zeros(len(words.sentence), dtype=bool)
    for k, (s, i) in enumerate(zip(words.sentence.tolist(), words.position.tolist(), strict=True)):
        sentence = sentences[s]
        out[k] = sentence.deprels[i] == relation or any(
            h == i and rel == relation for h, rel in zip(sentence.heads, sentence.deprels, strict=True))
    return out


def ablation_effect(model: LanguageModel, rows: Rows, dev_rows: Rows, sentences: list[Sentence],
                    relation: str, layer: int, head: int, baseline: ScoredWords, boot: Bootstrap,
                    seed: int) -> dict:
    """The top-1 drop on the relation's words and on the others, and their difference, with intervals."""
    mean = head_mean(model, dev_rows, layer, head)
    with mean_ablated(model, layer, head, mean):
        ablated = scored_words(model, rows, seed)
    drop = baseline.correct.astype(float) - ablated.correct.astype(float)  # [N]: 1 = lost, -1 = gained
    linked = linked_words(sentences, relation, baseline)

    def difference(lost_linked: np.ndarray, n_linked: np.ndarray, lost_other: np.ndarray,
                   n_other: np.ndarray) -> np.ndarray:
        return lost_linked / n_linked - lost_other / n_other

    value, ci = boot.statistic(difference, drop * linked, linked.astype(float), drop * ~linked,
                               (~linked).astype(float))
    return {"linked_words": int(linked.sum()), "drop_on_linked": boot.estimate(drop, linked),
            "drop_on_others": boot.estimate(drop, ~linked), "linked_minus_others": Estimate.of(value, ci)}
