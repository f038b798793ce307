"""The README's first figure: one sentence, a model trained here beside a pretrained syntactic
head — the trained [MASK] rows (mean of heads) and the pretrained head's word rows (renormalised
over the words), same words, same colour scale."""

from __future__ import annotations

from pathlib import Path

from attn_project.analysis.rows import head_names
from attn_project.commands.inspect import classify_sentence
from attn_project.data.text_input import InputSentence, split_words
from attn_project.errors import ConfigError
from attn_project.pretrained.inspect import sentence_attention
from attn_project.pretrained.load import load_model, load_tokenizer, max_pieces, model_files
from attn_project.training.checkpoint import load_run
from attn_project.viz import plots


def front_figure(ckpt_path: str, sentence: str, head: str, out: Path, trained_label: str = "") -> Path:
    """Draw it to ``out`` (PNG); ``head``: the bundled MiniLM's head, ``L<l>H<h>``."""
    words = split_words(sentence)
    trained = classify_sentence(load_run(ckpt_path), InputSentence(words)).mask_map.mean(0)  # [T, T]
    files = model_files(None, max_memory_gb=4.0)
    model, tokenizer = load_model(files), load_tokenizer(files)
    names = head_names(int(model.config.num_hidden_layers), int(model.config.num_attention_heads))
    if head not in names:
        raise ConfigError(f"--head {head}: {files.name} has heads {names[0]} … {names[-1]}")
    _, attention, _ = sentence_attention(model, tokenizer, words, max_pieces(files.config))  # [L·H, T, T]
    pretrained = attention[names.index(head)]  # [T, T], rows over the words
    fig = plots.before_after_figure(
        trained, pretrained, words, "Row i: where word i looks (trained here: the [MASK] at i)",
        before_title=trained_label or "trained here (mean of heads)",
        after_title=f"{files.name} {head} (rows over the words)")
    return plots.save(fig, out)
