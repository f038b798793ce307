"""Point a pretrained encoder at any text: every layer's and head's word-level attention as PNGs,
the offline HTML view (a layer and a head selector) and an npz/json export, as
``inspect_attention.py`` does for a trained run."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from attn_project.analysis.rows import head_names
from attn_project.data.text_input import fitting, read_inputs
from attn_project.errors import ConfigError
from attn_project.pretrained import drawn_heads
from attn_project.pretrained.drawn_heads import DrawnHeads, check_figures, chosen_heads, warn_if_long
from attn_project.pretrained.lens import piece_attention
from attn_project.pretrained.load import load_model, load_tokenizer, max_pieces, model_files
from attn_project.pretrained.words import over_words, piece_batch, special_share, word_attention
from attn_project.viz import plots
from attn_project.viz.html_view import write_html

INTRO = ("Left column: a word (its row is the mean over its pieces); right column: the words it attends "
         "to (the sum over their pieces), renormalised over the words: what special tokens took is "
         "reported apart (special_share).")


def piece_count(tokenizer, words: list[str]) -> int:
    return len(tokenizer.encode(words, is_pretokenized=True).ids)


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
                       max_memory_gb: float = 4.0, layers_drawn: list | None = None,
                       heads_drawn: list | None = None, figures: str = "auto") -> list[Path]:
    """``path``: a local model folder, or None for the bundled MiniLM (hashes checked). Every sentence
    is read through the model before anything is written; the output folder then replaces the
    previous one whole (a refused sentence leaves an earlier good output as it was). Figures are
    drawn for the chosen heads (``layers_drawn``, ``heads_drawn``; default all) where ``figures``
    allows; every head's weights are exported."""
    sentences = read_inputs(text, file)
    figures = check_figures(figures)
    files = model_files(path, max_memory_gb)
    model, tokenizer = load_model(files), load_tokenizer(files)
    layers, heads = int(model.config.num_hidden_layers), int(model.config.num_attention_heads)
    drawn = chosen_heads(layers_drawn, heads_drawn, layers, heads)
    folder = Path(out) if out else Path("logs") / "pretrained" / files.name / "inspect"
    check_replaceable(folder)
    limit = max_pieces(files.config)
    sentences = fitting(sentences, lambda s: piece_count(tokenizer, s.words) <= limit,
                        f"the model's {limit} positions")
    read = [(s.words, *sentence_attention(model, tokenizer, s.words, limit), s.gold_heads)  # all checked
            for s in tqdm(sentences, desc="reading through the model", disable=len(sentences) < 5)]
    for n, (words, *_) in enumerate(read):
        if drawn_heads.within_sentence_budget(n, figures):
            warn_if_long(n, len(words), drawn, figures)
    drawn_heads.warn_if_undrawn(len(read), figures)
    with replaced_folder(folder) as fresh:
        written = write_outputs(fresh, read, files.name, Drawing(layers, heads, drawn, figures))
    written = [folder / p.relative_to(fresh) for p in written]
    for path_written in written:
        print(f"wrote {path_written}")
    return written


# words, pieces, attention, special share, gold heads (a CoNLL-U input's; else None)
Read = tuple[list[str], list[str], torch.Tensor, torch.Tensor, list[int] | None]


@dataclass(frozen=True)
class Drawing:
    """The model's shape and what of it is drawn."""

    layers: int
    heads: int
    drawn: DrawnHeads
    figures: str

    def draws(self, n: int, words: int) -> bool:
        """Whether sentence ``n``, of ``words`` words, gets figures."""
        return drawn_heads.within_sentence_budget(n, self.figures) and self.drawn.draws(words, self.figures)


def sentence_figures(folder: Path, n: int, words: list[str], attention: torch.Tensor, model: str,
                     drawing: Drawing, gold_heads: list[int] | None) -> list[Path]:
    """The chosen layers' head means on one figure, then each chosen layer's chosen heads."""
    names, heads = head_names(drawing.layers, drawing.heads), drawing.heads
    chosen = drawing.drawn.by_layer
    per_layer = attention.view(drawing.layers, heads, len(words), len(words)).mean(1)  # [L, T, T]
    layers = list(chosen)
    fig = plots.head_grid_figure(per_layer[layers], words, f"{model}: the mean of each layer's heads",
                                 panel_names=[f"layer {layer} (its heads' mean)" for layer in layers],
                                 gold_heads=gold_heads)
    written = [plots.save(fig, folder / f"sentence{n}_layers.png")]
    for layer in layers:
        rows = [layer * heads + h for h in chosen[layer]]  # their index among all L·H heads
        fig = plots.head_grid_figure(attention[rows], words, f"{model}: layer {layer}",
                                     panel_names=[names[k] for k in rows], gold_heads=gold_heads)
        written.append(plots.save(fig, folder / f"sentence{n}_layer{layer}.png"))
    return written


def write_outputs(folder: Path, read: list[Read], model: str, drawing: Drawing) -> list[Path]:
    records, arrays, written = [], {}, []
    names = head_names(drawing.layers, drawing.heads)
    progress = tqdm(read, desc="figures", disable=len(read) < 5)
    for n, (words, pieces, attention, specials, gold_heads) in enumerate(progress):
        print(f"{' '.join(words)}\n  pieces: {' '.join(pieces)}")
        if drawing.draws(n, len(words)):
            written += sentence_figures(folder, n, words, attention, model, drawing, gold_heads)
        records.append({"text": " ".join(words), "tokens": words, "unknown": [False] * len(words),
                        "predictions": [None] * len(words), "weights": attention.tolist(),
                        "layers": drawing.layers,
                        "head_names": names, "pieces": pieces, "special_share": specials.tolist(),
                        "gold_heads": gold_heads})
        arrays[f"sentence{n}"] = attention.numpy()
        arrays[f"sentence{n}_tokens"] = np.array(words)
    written.append(write_html(folder / "attention.html", records, f"Attention of {model}", INTRO))
    (folder / "attention.json").write_text(json.dumps({"model": model, "sentences": records},
                                                      ensure_ascii=False), encoding="utf-8")
    np.savez_compressed(folder / "attention.npz", allow_pickle=False, **arrays)
    return written + [folder / "attention.json", folder / "attention.npz"]


OUTPUT = re.compile(r"sentence\d+_layers?\d*\.(png|svg|pdf)|attention\.(html|json|npz)")  # inspect's own


def check_replaceable(folder: Path) -> None:
    """``out`` may be new, empty, or an earlier inspect output (only its files): never another folder."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"out={folder}: exists and is not a folder")
    foreign = [p.name for p in folder.iterdir() if not OUTPUT.fullmatch(p.name)] if folder.is_dir() else []
    if foreign:
        raise ConfigError(f"out={folder}: holds files inspect did not write "
                          f"({', '.join(sorted(foreign)[:3])}); give a new or an earlier inspect folder")


@contextmanager
def replaced_folder(folder: Path) -> Iterator[Path]:
    """A fresh folder beside ``folder`` to write into; on success it takes ``folder``'s place whole,
    on an error it is removed and ``folder`` stays as it was."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=folder.parent))
    try:
        yield fresh
    except BaseException:
        shutil.rmtree(fresh, ignore_errors=True)
        raise
    old = folder.parent / f".{folder.name}.old-{fresh.name.rsplit('-', 1)[-1]}"
    if folder.exists():
        folder.rename(old)
    fresh.rename(folder)
    shutil.rmtree(old, ignore_errors=True)
