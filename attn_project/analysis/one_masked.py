"""A masked LM read with the n-gram baselines' information: each scored test word predicted with only
that word masked (every other word of its sentence as the text has it), at the test batches' own
scored positions. The standard test masks all of a sentence's scored words at once (15 %), so the
model can miss a neighbour that the Kneser–Ney trigram over both sides always sees; this reading
gives both the same true neighbours (and the model the rest of the sentence)."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import MASK_ID
from attn_project.model.language_model import LanguageModel


def one_masked_rows(batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A test batch → (ids [N, T]: a row per scored word, only it masked; its sentence's row in the batch
    [N]; its position [N]; its word [N])."""
    labels = batch["labels"]
    scored = labels != IGNORE  # [B, T]
    text = torch.where(scored, labels, batch["ids"])  # [B, T]: the sentences unmasked
    row, position = torch.nonzero(scored, as_tuple=True)  # [N] each
    ids = text[row].clone()  # [N, T]: the scored word's sentence, once per scored word
    ids[torch.arange(len(row)), position] = MASK_ID
    return ids, row, position, labels[row, position]


def one_masked_scores(model: LanguageModel, batches: list[dict[str, Tensor]], chunk: int = 512) -> dict:
    """``{"top1", "top5", "perplexity", "scored"}`` of a masked LM, each scored word masked alone, and
    per scored word in the batches' order ``"hits"`` (top-1 right), ``"truth"`` and ``"sentence"`` (its
    sentence's index in the batches, for a paired bootstrap over sentences)."""
    if model.causal:
        raise ValueError("one word masked at a time is a masked LM's reading; a causal LM sees no right side")
    nll, first, five, scored = 0.0, 0, 0, 0
    hits, truths, sentences, offset = [], [], [], 0
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        for batch in batches:
            ids, row, position, truth = one_masked_rows(batch)
            sentences.append((row + offset).numpy())
            offset += batch["labels"].size(0)
            ids, position, truth = ids.to(device), position.to(device), truth.to(device)
            for start in range(0, len(truth), chunk):
                part = slice(start, start + chunk)
                rows = torch.arange(len(truth[part]), device=device)
                at = torch.zeros_like(ids[part], dtype=torch.bool)  # [n, T]: the one scored position
                at[rows, position[part]] = True
                logits = model.scored_logits(ids[part], at)  # [n, V]
                nll += float(torch.nn.functional.cross_entropy(logits, truth[part], reduction="sum"))
                top = logits.topk(min(5, logits.size(-1)), dim=-1).indices  # [n, 5]
                right = top[:, 0] == truth[part]
                hits.append(right.cpu().numpy())
                first += int(right.sum())
                five += int((top == truth[part, None]).any(-1).sum())
            truths.append(truth.cpu().numpy())
            scored += len(truth)
    return {"top1": first / max(scored, 1), "top5": five / max(scored, 1),
            "perplexity": math.exp(nll / max(scored, 1)), "scored": scored,
            "hits": np.concatenate(hits) if hits else np.zeros(0, bool),
            "truth": np.concatenate(truths) if truths else np.zeros(0, np.int64),
            "sentence": np.concatenate(sentences) if sentences else np.zeros(0, np.int64)}
