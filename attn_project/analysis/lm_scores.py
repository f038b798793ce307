"""A language model's loss and top-1 accuracy on given sentences (a treebank's test words, which it
did not train on): a masked LM's masked words (15 % of each sentence's, every one [MASK], masks fixed
by a seed), a causal LM's next words."""

from __future__ import annotations

import math

import torch
from tokenizers import Tokenizer

from attn_project.analysis.head_ablation import encoded
from attn_project.data.conllu import Sentence
from attn_project.data.labels import IGNORE
from attn_project.data.lm_datamodule import lm_batch
from attn_project.model.language_model import LanguageModel


def lm_scores(model: LanguageModel, tokenizer: Tokenizer, sentences: list[Sentence], seed: int = 0,
              batch_size: int = 128) -> dict[str, float]:
    """``{"loss", "perplexity", "top1", "scored"}`` over the scored words of the sentences."""
    objective = "causal" if model.causal else "mlm"
    rows = sorted((ids for _, ids, _ in encoded(tokenizer, sentences, model.config.max_len)), key=len)
    generator = torch.Generator().manual_seed(seed)
    total, right, scored = 0.0, 0, 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            batch = lm_batch(rows[start:start + batch_size], objective, model.config.vocab_size, generator,
                             mask_all=True)
            where = batch["labels"] != IGNORE
            logits = model.scored_logits(batch["ids"], where)  # [N, V]
            truth = batch["labels"][where]
            total += float(torch.nn.functional.cross_entropy(logits, truth, reduction="sum"))
            right += int((logits.argmax(-1) == truth).sum())
            scored += int(where.sum())
    loss = total / max(scored, 1)
    return {"loss": loss, "perplexity": math.exp(loss), "top1": right / max(scored, 1), "scored": scored}
