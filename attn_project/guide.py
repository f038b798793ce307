"""The bottom-up guide: tokens → embeddings → one head → many heads, with random weights.

Each step prints a short narration and writes one figure. ``scripts/explain.py`` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from attn_project.analysis import plots
from attn_project.analysis.metrics import normalised_entropy
from attn_project.attention import MultiHeadAttention, SingleHeadAttention
from attn_project.data.tokenizer import build_word_tokenizer, encode_words
from attn_project.embeddings import TokenAndPositionEmbedding
from attn_project.model import MaskedTokenClassifier, init_projections

EXAMPLES = [
    "the old man saw the boats on the river .",
    "she will read the book that her friend wrote .",
    "did the children watch the game ?",
]


def mean_entropy_over_examples(init: str, tokenizer, words, d: int, seeds: int = 5) -> float:
    """Mean normalised entropy of random single heads over the example sentences and seeds."""
    values = []
    for seed in range(seeds):
        torch.manual_seed(1000 + seed)
        embed = TokenAndPositionEmbedding(len(tokenizer), d, max_len=64)
        head = SingleHeadAttention(d)
        init_projections(head, init)
        for sentence in words:
            ids = torch.tensor(encode_words(tokenizer, [sentence]))
            _, weights = head(embed(ids))
            values.append(normalised_entropy(weights[0]).mean())
    return float(torch.stack(values).mean())


class Guide:
    """Runs the steps in order; ``say`` narrates, ``figure`` saves and lists a PNG."""

    def __init__(self, out_dir: Path, d_model: int = 16, num_heads: int = 4, seed: int = 0,
                 say: Callable[[str], None] = print):
        self.out_dir, self.d_model, self.num_heads, self.say = Path(out_dir), d_model, num_heads, say
        self.written: list[Path] = []
        torch.manual_seed(seed)

    def figure(self, fig, name: str) -> None:
        path = plots.save(fig, self.out_dir / f"{len(self.written) + 1:02d}_{name}.png")
        self.written.append(path)
        self.say(f"  → wrote {path}")

    def run(self, sentences: Sequence[str] = EXAMPLES) -> list[Path]:
        words = [s.split() for s in sentences]
        tokenizer = build_word_tokenizer(words)
        tokens = words[0]
        ids = torch.tensor(encode_words(tokenizer, [tokens]))  # [1, T]
        self.step_tokenize(tokenizer, words)
        x = self.step_embed(tokenizer, ids, tokens)
        with torch.no_grad():
            self.step_single_head(x, tokens)
            self.step_multi_head(x, tokens)
            self.step_initialisation(tokenizer, words)
            self.step_mask_rows(tokenizer, tokens)
        return self.written

    def step_tokenize(self, tokenizer, words: list[list[str]]) -> None:
        self.say("Step 1 — tokenization. A word-level transformers tokenizer (PreTrainedTokenizerFast, "
                 "built offline from these sentences) maps each word to an integer id; [PAD], [UNK] "
                 "and [MASK] are reserved ids 0, 1, 2.")
        rows = []
        for sentence in words:
            ids = encode_words(tokenizer, [sentence])[0]
            self.say("  " + "  ".join(f"{w}={i}" for w, i in zip(sentence, ids)))
            rows.append((sentence, ids))
        fig, axes = plots.new_figure(1, cell=3.0)
        fig.set_size_inches(12, 2.2 + 0.6 * len(rows))
        ax = axes[0]
        ax.axis("off")
        width = max(len(s) for s, _ in rows)
        cells = []
        for sentence, ids in rows:
            cells.append(sentence + [""] * (width - len(sentence)))
            cells.append([str(i) for i in ids] + [""] * (width - len(ids)))
        labels = [f"{kind} {n + 1}" for n in range(len(rows)) for kind in ("tokens", "ids")]
        ax.table(cellText=cells, rowLabels=labels, loc="center", cellLoc="center")
        ax.set_title("Step 1: tokenization — each word becomes an id from the vocabulary")
        self.figure(fig, "tokenization")

    def step_embed(self, tokenizer, ids: torch.Tensor, tokens: list[str]) -> torch.Tensor:
        self.say(f"Step 2 — embeddings. Each id selects a row of a learnable table (d_model="
                 f"{self.d_model}); a sinusoidal position vector is added so order is visible. "
                 f"Random N(0,1) rows now: they mean nothing until trained.")
        embed = TokenAndPositionEmbedding(len(tokenizer), self.d_model, max_len=64)
        with torch.no_grad():
            x = embed(ids)  # [1, T, d]
        fig, axes = plots.new_figure(1)
        fig.set_size_inches(9, 4.5)
        plots.heatmap(axes[0], x[0], tokens, [str(i) for i in range(self.d_model)],
                      "Step 2: token + position embeddings (rows = tokens)", vmin=None, vmax=None,
                      cmap="vlag", cbar_label="value")
        axes[0].set_xlabel("embedding dimension")
        axes[0].set_ylabel("token")
        self.figure(fig, "embeddings")
        return x

    def step_single_head(self, x: torch.Tensor, tokens: list[str]) -> None:
        head = SingleHeadAttention(self.d_model)
        q, k = head.w_q(x)[0], head.w_k(x)[0]  # [T, d]
        scores = q @ k.T  # [T, T]
        scaled = scores / math.sqrt(self.d_model)
        weights = torch.softmax(scaled, dim=-1)
        self.say("Step 3 — scores. Queries Q = X·W_Q and keys K = X·W_K; Q·Kᵀ[i, j] says how well "
                 "token i's question matches token j's label.")
        lim = float(scores.abs().max())
        self.figure(plots.single_map_figure(scores, tokens, "Step 3: raw scores Q·Kᵀ", vmin=-lim,
                                            vmax=lim, cmap="vlag", cbar_label="score"), "scores")
        self.say(f"Step 4 — scaling. Dividing by sqrt(d_head) = {math.sqrt(self.d_model):.1f} keeps "
                 "the scores' spread independent of the head size, so softmax does not saturate.")
        lim = float(scaled.abs().max())
        self.figure(plots.single_map_figure(scaled, tokens, "Step 4: scaled scores Q·Kᵀ/√d",
                                            vmin=-lim, vmax=lim, cmap="vlag", cbar_label="score"),
                    "scaled_scores")
        self.say("Step 5 — softmax. Each row becomes a probability distribution: how token i "
                 "spreads its attention over all tokens (each row sums to 1).")
        fig = plots.single_map_figure(weights, tokens, "Step 5: softmax(Q·Kᵀ/√d), row by row")
        self.figure(fig, "softmax_weights")
        _, module_weights = head(x)
        entropy = normalised_entropy(module_weights[0]).mean()
        self.say("Step 6 — the single head. The output for token i is the attention-weighted "
                 "average of value vectors X·W_V. This is the heat map of SingleHeadAttention "
                 f"(random weights; mean normalised entropy {entropy:.2f}).")
        self.figure(plots.single_map_figure(module_weights[0], tokens,
                                            "Step 6: single-head attention (random W_Q, W_K, W_V)"),
                    "single_head")

    def step_multi_head(self, x: torch.Tensor, tokens: list[str]) -> None:
        self.say(f"Step 7 — multi-head. {self.num_heads} heads of {self.d_model // self.num_heads} "
                 "dimensions each look at the same sentence with their own W_Q, W_K, W_V; their "
                 "outputs are concatenated and mixed by W_O. One head averages one set of values; "
                 "several heads can keep apart what one would blur (e.g. left vs right neighbours).")
        mha = MultiHeadAttention(self.d_model, self.num_heads)
        _, weights = mha(x)  # [1, H, T, T]
        self.figure(plots.head_grid_figure(weights[0], tokens, f"Step 7: {self.num_heads} heads, "
                                           "random weights, same sentence"), "multi_head")

    def step_initialisation(self, tokenizer, words: list[list[str]], d: int = 64) -> None:
        self.say(f"Step 8 — what 'random weights' means. At d={d}, with unscaled N(0,1) projection "
                 "matrices each q·k is a sum of d products whose variance grows like d³, so even "
                 "after dividing by √d the softmax is nearly one-hot. PyTorch's default nn.Linear "
                 "init draws weights of scale 1/√d, the scores are small, and the rows are nearly "
                 "uniform. A 'spiky before training' picture is a property of the initialisation, "
                 "not of attention.")
        tokens = words[0]
        ids = torch.tensor(encode_words(tokenizer, [tokens]))
        embed = TokenAndPositionEmbedding(len(tokenizer), d, max_len=64)
        x = embed(ids)
        maps, titles = [], []
        for init in ("normal", "default"):
            head = SingleHeadAttention(d)
            init_projections(head, init)
            _, weights = head(x)
            entropy = mean_entropy_over_examples(init, tokenizer, words, d)
            top = weights[0].max(-1).values.mean()
            label = "unscaled N(0,1)" if init == "normal" else "PyTorch default nn.Linear"
            self.say(f"  {label:26s} mean entropy/log T = {entropy:.2f}, mean top weight = {top:.2f}")
            maps.append(weights[0])
            titles.append(f"{label}\nmean entropy/log T = {entropy:.2f}")
        fig = plots.before_after_figure(maps[0], maps[1], tokens,
                                        f"Step 8: two kinds of random weights (d={d})",
                                        before_title=titles[0], after_title=titles[1])
        self.figure(fig, "initialisations")

    def step_mask_rows(self, tokenizer, tokens: list[str]) -> None:
        self.say("Step 9 — all masks in one pass. The classifier replaces token i by [MASK] and "
                 "reads the vector at i. With one attention layer, the T masked copies of a "
                 "sentence differ only at their own position, so row i of copy i needs the keys and "
                 "values of the real tokens plus the [MASK]'s own query, key and value at i: one "
                 "pass over the unmasked sentence, with the diagonal swapped, gives all T rows. "
                 "That 'mask map' is what the analysis reads. Two more savings follow from the same "
                 "reasoning: [MASK]-at-position-i is the same vector in every sentence, so its query, "
                 "key and value are projected once per batch; and a single masked copy needs only "
                 "its [MASK] row, so in training only that query attends.")
        model = MaskedTokenClassifier(len(tokenizer), self.d_model, num_heads=1, max_len=64,
                                      mask_id=tokenizer.mask_token_id)
        ids = torch.tensor(encode_words(tokenizer, [tokens]))  # [1, T]
        _, mask_map = model.forward_all_masks(ids)  # [1, 1, T, T]
        rows = []
        for i in range(len(tokens)):
            masked = ids.clone()
            masked[0, i] = tokenizer.mask_token_id
            _, weights = model(masked, torch.tensor([i]))
            rows.append(weights[0, 0, i])
            if i == 2:
                raw, masked_tokens = weights[0, 0], tokens[:i] + ["[MASK]"] + tokens[i + 1:]
        gap = (torch.stack(rows) - mask_map[0, 0]).abs().max()
        self.say(f"  largest difference from {len(tokens)} separate masked passes: {gap:.1e}")
        fig, axes = plots.new_figure(2)
        plots.heatmap(axes[0], raw, masked_tokens, masked_tokens,
                      f"one masked input: token {2} is [MASK]")
        plots.heatmap(axes[1], mask_map[0, 0], ["[MASK]@" + t for t in tokens], tokens,
                      "mask map: row i = [MASK] at i (one pass)")
        fig.suptitle("Step 9: the mask map, computed for every position at once")
        self.figure(fig, "mask_rows")
