"""Point a pretrained encoder at any text: every layer's and head's word-level attention as PNGs,
the offline HTML view (a layer and a head selector) and an npz/json export, as
``inspect_attention.py`` does for a trained run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from attn_project.analysis.rows import head_names
from attn_project.data.text_input import read_sentences, split_words
from attn_project.errors import ConfigError
from attn_project.pretrained.lens import piece_attention
from attn_project.pretrained.load import load_model, load_tokenizer, max_pieces, model_files
from attn_project.pretrained.words import over_words, piece_batch, special_share, word_attention
from attn_project.viz import plots
from attn_project.viz.html_view import write_html

INTRO = ("Left column: a word (its row is the mean over its pieces); right column: the words it attends "
         "to (the sum over their pieces), renormalised over the words: what special tokens took is "
         "reported apart (special_share).")


def sentence_attention(model, tokenizer, words: list[str], max_pieces: int) -> tuple[list[str], torch.Tensor,
                                                                                     torch.Tensor]:
    """(the pieces, word attention [L·H, T, T] with rows renormalised over the words, the weight each
    head gives special tokens [L·H] before that)."""
    encoding = tokenizer.encode(words, is_pretokenized=True)
    if len(encoding.ids) > max_pieces:
        raise ConfigError(f"text: {len(encoding.ids)} pieces, more than the model's {max_pieces} positions; "
                          f"the sentence is refused, not cut — split it")
    batch = piece_batch([encoding], int(model.config.pad_token_id or 0))
    pieces = piece_attention(model, batch, "cpu")  # [1, L·H, P, P]
    words_attention = word_attention(pieces, batch.word_of_piece, len(words))[0]  # [L·H, T, T]
    specials = special_share(words_attention[None], batch.num_words)[0]  # [L·H]
    return list(encoding.tokens), over_words(words_attention[None])[0], specials


def inspect_pretrained(path: str | None, text: str | None, file: str | None, out: str | None,
                       max_memory_gb: float = 4.0) -> list[Path]:
    """``path``: a local model folder, or None for the bundled MiniLM (hashes checked)."""
    sentences = read_sentences(text, file)
    files = model_files(path, max_memory_gb)
    model, tokenizer = load_model(files), load_tokenizer(files)
    layers, heads = int(model.config.num_hidden_layers), int(model.config.num_attention_heads)
    names = head_names(layers, heads)
    folder = Path(out) if out else Path("logs") / "pretrained" / files.name / "inspect"
    records, arrays, written = [], {}, []
    for n, sentence in enumerate(sentences):
        words = split_words(sentence)
        pieces, attention, specials = sentence_attention(model, tokenizer, words, max_pieces(files.config))
        print(f"{' '.join(words)}\n  pieces: {' '.join(pieces)}")
        per_layer = attention.view(layers, heads, len(words), len(words)).mean(1)  # [L, T, T]
        fig = plots.head_grid_figure(per_layer, words, f"{files.name}: mean of each layer's heads (layer k = "
                                                       f"panel k)")
        written.append(plots.save(fig, folder / f"sentence{n}_layers.png"))
        for layer in range(layers):
            fig = plots.head_grid_figure(attention[layer * heads:(layer + 1) * heads], words,
                                         f"{files.name}: layer {layer}, heads 0–{heads - 1}")
            written.append(plots.save(fig, folder / f"sentence{n}_layer{layer}.png"))
        records.append({"text": " ".join(words), "tokens": words, "unknown": [False] * len(words),
                        "predictions": [None] * len(words), "weights": attention.tolist(), "layers": layers,
                        "head_names": names, "pieces": pieces, "special_share": specials.tolist()})
        arrays[f"sentence{n}"] = attention.numpy()
        arrays[f"sentence{n}_tokens"] = np.array(words)
    written.append(write_html(folder / "attention.html", records, f"Attention of {files.name}", INTRO))
    (folder / "attention.json").write_text(json.dumps({"model": files.name, "sentences": records},
                                                      ensure_ascii=False), encoding="utf-8")
    np.savez_compressed(folder / "attention.npz", allow_pickle=False, **arrays)
    written += [folder / "attention.json", folder / "attention.npz"]
    for path_written in written:
        print(f"wrote {path_written}")
    return written
