"""Point a trained model at any sentence: predictions for every word, heat maps, an HTML view."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from attn_project.analysis.mask_maps import evaluating
from attn_project.analysis.rows import head_names
from attn_project.data.labels import CLASS_NAMES
from attn_project.data.pieces import encode
from attn_project.data.text_input import InputSentence, fitting, read_inputs
from attn_project.errors import ConfigError
from attn_project.pretrained.drawn_heads import check_figures, warn_if_undrawn, within_sentence_budget
from attn_project.viz import plots
from attn_project.viz.html_view import write_html

if TYPE_CHECKING:
    from attn_project.training.checkpoint import LoadedRun



FIGURE_NAME = re.compile(r"sentence\d+_(mask_map|heads)\.(png|svg|pdf)")  # inspect's own figures, no other
TOP_WORDS = 5  # with more classes than this (the word task), a prediction lists the five most probable


@dataclass
class SentenceAttention:
    words: list[str]
    unknown: list[bool]
    probabilities: list[list[float]]  # [T, C]: the task's classes for each word, were it masked
    mask_map: torch.Tensor  # [H, T, T]
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    gold_heads: list[int] | None = None  # a CoNLL-U input's tree: each word's head, -1 the root
    layers: int = 1
    head_names: list[str] = field(default_factory=list)  # L<l>H<h> of each row block of mask_map

    @property
    def p_content(self) -> list[float]:
        """content_function: the probability that each masked word is a content word."""
        return [p[1] for p in self.probabilities]

    def predictions(self) -> list[str | None]:
        """``"function (P=0.91)"``: the predicted class and its own probability — with many classes
        (the word task) the five most probable, ``"the 0.31, a 0.22, …"``; None for punctuation,
        which is never a target."""
        return [self.prediction(p) if may_be_target(word) else None
                for word, p in zip(self.words, self.probabilities)]

    def prediction(self, p: list[float]) -> str:
        order = sorted(range(len(p)), key=p.__getitem__, reverse=True)
        if len(p) <= TOP_WORDS:
            return f"{self.class_names[order[0]]} (P={p[order[0]]:.2f})"
        return ", ".join(f"{self.class_names[k]} {p[k]:.2f}" for k in order[:TOP_WORDS])


def may_be_target(word: str) -> bool:
    """Punctuation (a token without a letter or digit) is never a target."""
    return re.match(r"\w", word) is not None


def classify_sentence(loaded: LoadedRun, sentence: InputSentence) -> SentenceAttention:
    """Classify every word as if it alone were masked, and keep the mask map."""
    classifier, tokenizer = loaded.module.model, loaded.tokenizer
    words = sentence.words
    max_len = classifier.embed.position.max_len
    if len(words) > max_len:
        raise ConfigError(f"text has {len(words)} tokens but the model was trained with "
                         f"data.max_len={max_len}; the sentence is refused, not truncated — "
                         f"split it into shorter sentences.")
    ids = torch.tensor(encode(tokenizer, loaded.pieces, [words], loaded.max_pieces))  # [1, T] / [1, T, 1+P]
    with evaluating(classifier):
        logits, mask_map = classifier.forward_all_masks(ids)
    probabilities = torch.softmax(logits[0], -1)  # [T, C]
    names = classifier.config.class_names or list(CLASS_NAMES)
    layers, heads = classifier.config.num_layers, classifier.config.num_heads
    return SentenceAttention(words, (classifier.word_ids(ids)[0] == tokenizer.unk_token_id).tolist(),
                             probabilities.tolist(), mask_map[0], names, sentence.gold_heads, layers,
                             head_names(layers, heads))


def labelled(words: list[str], unknown: list[bool]) -> list[str]:
    return [f"{w} [UNK]" if unk else w for w, unk in zip(words, unknown)]


def write_views(results: list[SentenceAttention], out: Path, figures: str = "auto") -> list[Path]:
    """Per sentence a mask-map PNG and a per-head PNG (as ``figures`` allows: auto, the first
    ``MAX_DRAWN_SENTENCES``); one HTML page, attention.json and .npz for every sentence."""
    written = []
    for earlier in out.glob("sentence*"):  # an earlier inspect's figures would outlive this one's sentences
        if FIGURE_NAME.fullmatch(earlier.name) and earlier.is_file():
            earlier.unlink()
    warn_if_undrawn(len(results), figures)
    for n, r in enumerate(results):
        if not within_sentence_budget(n, figures):
            continue
        tokens = labelled(r.words, r.unknown)
        heads = r.mask_map.size(0)
        title = f"Mask map: row i = what the [MASK] at i attends to{' (mean of heads)' if heads > 1 else ''}"
        fig = plots.single_map_figure(r.mask_map.mean(0), tokens, title, gold_heads=r.gold_heads)
        written.append(plots.save(fig, out / f"sentence{n}_mask_map.png"))
        if heads > 1:  # with one head the per-head figure would repeat the mask map
            fig = plots.head_grid_figure(r.mask_map, tokens, "Mask map per head", gold_heads=r.gold_heads,
                                         panel_names=r.head_names or None)
            written.append(plots.save(fig, out / f"sentence{n}_heads.png"))
    records = [record(r) for r in results]
    written.append(write_html(out / "attention.html", records))
    written += export(records, results, out)
    return written


def record(r: SentenceAttention) -> dict:
    """One sentence for the HTML page and attention.json (``p_content`` for content_function)."""
    binary = {"p_content": r.p_content} if r.class_names == list(CLASS_NAMES) else {}
    return {"text": " ".join(r.words), "tokens": r.words, "unknown": r.unknown,
            "predictions": r.predictions(), "class_names": r.class_names, "probabilities": r.probabilities,
            **binary, "weights": r.mask_map.tolist(), "gold_heads": r.gold_heads, "head_names": r.head_names,
            **({"layers": r.layers} if r.layers > 1 else {})}


def export(records: list[dict], results: list[SentenceAttention], out: Path) -> list[Path]:
    """attention.json (everything, as lists) and attention.npz (``sentenceN``: the mask map
    [H, T, T]; ``sentenceN_tokens``): the attention to take away into other tools."""
    json_path, npz_path = out / "attention.json", out / "attention.npz"
    json_path.write_text(json.dumps({"sentences": records}, ensure_ascii=False), encoding="utf-8")
    arrays: dict[str, np.ndarray] = {}
    for n, r in enumerate(results):
        arrays[f"sentence{n}"] = r.mask_map.numpy()
        arrays[f"sentence{n}_tokens"] = np.array(r.words)
    np.savez_compressed(npz_path, allow_pickle=False, **arrays)
    return [json_path, npz_path]


def print_predictions(result: SentenceAttention) -> None:
    print(" ".join(result.words))
    for word, unk, prediction in zip(result.words, result.unknown, result.predictions()):
        if prediction is not None:
            print(f"  {word:>16s}{' [UNK]' if unk else '      '}  → {prediction}")


def default_output(ckpt_path: str | Path) -> Path:
    """``<run folder>/inspect`` for a checkpoint in a run's ``checkpoints/``, else beside the file."""
    ckpt = Path(ckpt_path).resolve()
    in_run = ckpt.parent.name == "checkpoints"
    return (ckpt.parent.parent if in_run else ckpt.parent) / "inspect"


def inspect_sentences(ckpt_path: str, text: str | None, file: str | None, out: str | None,
                      figures: str = "auto") -> list[Path]:
    """What ``scripts/inspect_attention.py`` does: predictions printed, views written."""
    figures = check_figures(figures)
    if not ckpt_path:
        raise ConfigError("ckpt_path: required, e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt "
                          "(or pretrained=minilm for the pretrained encoder)")
    sentences = read_inputs(text, file)
    from attn_project.training.checkpoint import load_run  # the model stack: only when inspecting

    loaded = load_run(ckpt_path)
    max_len = loaded.module.model.embed.position.max_len
    sentences = fitting(sentences, lambda s: len(s.words) <= max_len, f"the model's data.max_len={max_len}")
    results = [classify_sentence(loaded, sentence) for sentence in sentences]
    for result in results:
        print_predictions(result)
    written = write_views(results, Path(out) if out else default_output(ckpt_path), figures)
    for path in written:
        print(f"wrote {path}")
    return written
