"""The bottom-up guide: tokens → embeddings → one head → many heads, with random weights.

Each step is a function of the shared ``GuideInputs`` that returns its narration and its
figure; ``run_guide`` calls them in order, prints the text and saves the figures.
``scripts/explain.py`` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from matplotlib.figure import Figure
from tokenizers import Tokenizer
from transformers import PreTrainedTokenizerFast

from attn_project.analysis.metrics import normalised_entropy
from attn_project.data.pieces import build_piece_tokenizer, pieces_of
from attn_project.data.tokenizer import build_word_tokenizer, encode_words
from attn_project.model import MaskedTokenClassifier, ModelConfig
from attn_project.model.attention import MultiHeadAttention, SingleHeadAttention
from attn_project.model.blocks import init_projections
from attn_project.model.embeddings import TokenAndPositionEmbedding
from attn_project.viz import plots

GUIDE_PIECES = 60  # a tiny piece vocabulary: the example words split into visible pieces
EXAMPLES = [
    "the old man saw the boats on the river .",
    "she will read the book that her friend wrote .",
    "did the children watch the game ?",
]


@dataclass
class GuideInputs:
    """What the steps share: the sentences, their tokenizer, the first sentence embedded, and
    one random head (steps 3–6 look inside the same head)."""

    words: list[list[str]]
    tokenizer: PreTrainedTokenizerFast
    ids: torch.Tensor  # [1, T]: the first sentence
    x: torch.Tensor  # [1, T, d_model]: its token + position embeddings
    head: SingleHeadAttention
    num_heads: int
    pieces: Tokenizer | None = None  # --pieces: a WordPiece vocabulary of the same sentences

    @classmethod
    def build(cls, sentences: Sequence[str], d_model: int, num_heads: int,
              pieces: bool = False) -> GuideInputs:
        words = [s.split() for s in sentences]
        tokenizer = build_word_tokenizer(words)
        ids = torch.tensor(encode_words(tokenizer, words[:1]))  # [1, T]
        x = TokenAndPositionEmbedding(len(tokenizer), d_model, max_len=64)(ids)  # [1, T, d]
        piece_vocabulary = build_piece_tokenizer(words, GUIDE_PIECES) if pieces else None
        return cls(words, tokenizer, ids, x, SingleHeadAttention(d_model), num_heads, piece_vocabulary)

    @property
    def tokens(self) -> list[str]:
        return self.words[0]

    @property
    def d_model(self) -> int:
        return self.x.size(-1)

    def scores(self) -> torch.Tensor:
        """Q·Kᵀ of the first sentence under the shared head: [T, T]."""
        return self.head.w_q(self.x)[0] @ self.head.w_k(self.x)[0].T


def tokenization(g: GuideInputs) -> tuple[str, Figure]:
    ids = encode_words(g.tokenizer, g.words)
    text = ("tokenization. A word-level transformers tokenizer (PreTrainedTokenizerFast, built "
            "offline from these sentences) maps each word to an integer id; [PAD], [UNK] and [MASK] "
            "are reserved ids 0, 1, 2.\n"
            + "\n".join("  " + "  ".join(f"{w}={i}" for w, i in zip(s, row)) for s, row in zip(g.words, ids)))
    width = max(len(s) for s in g.words)
    rows = {"tokens": [list(s) for s in g.words], "ids": [[str(i) for i in row] for row in ids]}
    if g.pieces is not None:  # data.tokenizer=pieces: each word also brings its subword pieces
        shown = [[" ".join(pieces_of(g.pieces, w)) for w in s] for s in g.words]
        rows["pieces"] = shown
        text += ("\n  With pieces (data.tokenizer=pieces), each word is also split into WordPiece pieces "
                 "(## continues a word) and its vector adds the mean of their embeddings:\n"
                 + "\n".join("  " + "  ".join(f"{w}=[{p}]" for w, p in zip(s, row))
                              for s, row in zip(g.words, shown)))
    cells = [row + [""] * (width - len(row)) for n in range(len(g.words)) for row in
             (rows[kind][n] for kind in rows)]
    labels = [f"{kind} {n + 1}" for n in range(len(g.words)) for kind in rows]
    fig, axes = plots.new_figure(1, cell=3.0)
    fig.set_size_inches(12, 2.2 + 0.6 * len(g.words))
    axes[0].axis("off")
    axes[0].table(cellText=cells, rowLabels=labels, loc="center", cellLoc="center")
    axes[0].set_title("Step 1: tokenization — each word becomes an id from the vocabulary")
    return text, fig


def embeddings(g: GuideInputs) -> tuple[str, Figure]:
    text = (f"embeddings. Each id selects a row of a learnable table (d_model={g.d_model}); a "
            f"sinusoidal position vector is added so order is visible. Random N(0,1) rows now: they "
            f"mean nothing until trained.")
    fig, axes = plots.new_figure(1)
    fig.set_size_inches(9, 4.5)
    plots.heatmap(axes[0], g.x[0], g.tokens, [str(i) for i in range(g.d_model)],
                  "Step 2: token + position embeddings (rows = tokens)", vmin=None, vmax=None,
                  cmap="vlag", cbar_label="value")
    axes[0].set_xlabel("embedding dimension")
    axes[0].set_ylabel("token")
    return text, fig


def signed_map(matrix: torch.Tensor, tokens: list[str], title: str) -> Figure:
    lim = float(matrix.abs().max())
    return plots.single_map_figure(matrix, tokens, title, vmin=-lim, vmax=lim, cmap="vlag",
                                   cbar_label="score")


def raw_scores(g: GuideInputs) -> tuple[str, Figure]:
    text = ("scores. Queries Q = X·W_Q and keys K = X·W_K; Q·Kᵀ[i, j] says how well token i's "
            "question matches token j's label.")
    return text, signed_map(g.scores(), g.tokens, "Step 3: raw scores Q·Kᵀ")


def scaled_scores(g: GuideInputs) -> tuple[str, Figure]:
    text = (f"scaling. Dividing by sqrt(d_head) = {math.sqrt(g.d_model):.1f} keeps the scores' "
            f"spread independent of the head size, so softmax does not saturate.")
    return text, signed_map(g.scores() / math.sqrt(g.d_model), g.tokens, "Step 4: scaled scores Q·Kᵀ/√d")


def softmax_rows(g: GuideInputs) -> tuple[str, Figure]:
    text = ("softmax. Each row becomes a probability distribution: how token i spreads its "
            "attention over all tokens (each row sums to 1).")
    weights = torch.softmax(g.scores() / math.sqrt(g.d_model), dim=-1)  # [T, T]
    return text, plots.single_map_figure(weights, g.tokens, "Step 5: softmax(Q·Kᵀ/√d), row by row")


def single_head(g: GuideInputs) -> tuple[str, Figure]:
    _, weights = g.head(g.x)  # [1, 1, T, T]
    text = ("the single head. The output for token i is the attention-weighted average of value "
            "vectors X·W_V. This is the heat map of SingleHeadAttention (random weights; mean "
            f"normalised entropy {normalised_entropy(weights[0, 0]).mean():.2f}).")
    return text, plots.single_map_figure(weights[0, 0], g.tokens,
                                         "Step 6: single-head attention (random W_Q, W_K, W_V)")


def multi_head(g: GuideInputs) -> tuple[str, Figure]:
    text = (f"multi-head. {g.num_heads} heads of {g.d_model // g.num_heads} dimensions each look at "
            "the same sentence with their own W_Q, W_K, W_V; their outputs are concatenated and "
            "mixed by W_O. One head averages one set of values; several heads can keep apart what "
            "one would blur (e.g. left vs right neighbours).")
    _, weights = MultiHeadAttention(g.d_model, g.num_heads)(g.x)  # [1, H, T, T]
    return text, plots.head_grid_figure(weights[0], g.tokens,
                                        f"Step 7: {g.num_heads} heads, random weights, same sentence")


def mean_entropy_over_examples(init: str, g: GuideInputs, seeds: int = 5) -> float:
    """Mean normalised entropy of random single heads over the example sentences and seeds."""
    values = []
    for seed in range(seeds):
        torch.manual_seed(1000 + seed)
        embed = TokenAndPositionEmbedding(len(g.tokenizer), g.d_model, max_len=64)
        head = SingleHeadAttention(g.d_model)
        init_projections(head, init)
        for sentence in g.words:
            _, weights = head(embed(torch.tensor(encode_words(g.tokenizer, [sentence]))))
            values.append(normalised_entropy(weights[0, 0]).mean())
    return float(torch.stack(values).mean())


def initialisations(g: GuideInputs) -> tuple[str, Figure]:
    d = g.d_model
    lines = [f"what 'random weights' means. At d={d}, with unscaled N(0,1) projection matrices each "
             "q·k is a sum of d products whose variance grows like d³, so even after dividing by √d "
             "the softmax is nearly one-hot. PyTorch's default nn.Linear init draws weights of "
             "scale 1/√d, the scores are small, and the rows are nearly uniform. A 'spiky before "
             "training' picture is a property of the initialisation, not of attention."]
    x = TokenAndPositionEmbedding(len(g.tokenizer), d, max_len=64)(g.ids)  # [1, T, d]
    maps, titles = [], []
    for init, label in (("normal", "unscaled N(0,1)"), ("default", "PyTorch default nn.Linear")):
        head = SingleHeadAttention(d)
        init_projections(head, init)
        weights = head(x)[1][0, 0]  # [T, T]
        entropy = mean_entropy_over_examples(init, g)
        lines.append(f"  {label:26s} mean entropy/log T = {entropy:.2f}, "
                     f"mean top weight = {weights.max(-1).values.mean():.2f}")
        maps.append(weights)
        titles.append(f"{label}\nmean entropy/log T = {entropy:.2f}")
    fig = plots.before_after_figure(maps[0], maps[1], g.tokens,
                                    f"Step 8: two kinds of random weights (d={d})",
                                    before_title=titles[0], after_title=titles[1])
    return "\n".join(lines), fig


def all_masks_in_one_pass(g: GuideInputs) -> tuple[str, Figure]:
    model = MaskedTokenClassifier(ModelConfig(len(g.tokenizer), d_model=g.d_model,
                                              mask_id=g.tokenizer.mask_token_id))
    _, mask_map = model.forward_all_masks(g.ids)  # [1, 1, T, T]
    separate = []  # the attention [T, T] of each masked copy, one pass each
    for i in range(len(g.tokens)):
        masked = g.ids.clone()
        masked[0, i] = g.tokenizer.mask_token_id
        separate.append(model(masked, torch.tensor([i]))[1][0, 0])
    rows = torch.stack([weights[i] for i, weights in enumerate(separate)])  # row i of copy i: [T, T]
    gap = (rows - mask_map[0, 0]).abs().max()
    shown = len(g.tokens) // 2  # the masked copy drawn beside the mask map
    raw = separate[shown]
    text = ("all masks in one pass. The classifier replaces token i by [MASK] and reads the vector "
            "at i. With one attention layer, the T masked copies of a sentence differ only at their "
            "own position, so row i of copy i needs the keys and values of the real tokens plus the "
            "[MASK]'s own query, key and value at i: one pass over the unmasked sentence, with the "
            "diagonal swapped, gives all T rows. That 'mask map' is what the analysis reads. Two "
            "more savings follow from the same reasoning: [MASK]-at-position-i is the same vector in "
            "every sentence, so its query, key and value are projected once per batch; and a single "
            "masked copy needs only its [MASK] row, so in training only that query attends.\n"
            f"  largest difference from {len(g.tokens)} separate masked passes: {gap:.1e}")
    masked_tokens = g.tokens[:shown] + ["[MASK]"] + g.tokens[shown + 1:]
    fig, axes = plots.new_figure(2)
    plots.heatmap(axes[0], raw, masked_tokens, masked_tokens, f"one masked input: token {shown} is [MASK]")
    plots.heatmap(axes[1], mask_map[0, 0], ["[MASK]@" + t for t in g.tokens], g.tokens,
                  "mask map: row i = [MASK] at i (one pass)")
    fig.suptitle("Step 9: the mask map, computed for every position at once")
    return text, fig


# a hand parse of the first example (0-based heads, root = -1): step 10 names the head that finds it
EXAMPLE_HEADS = {"the old man saw the boats on the river .": [2, 2, 3, -1, 5, 3, 8, 8, 3, 3]}
EWT_BEST_HEAD = "L2H8"  # the bundled model's best head for most relations on EWT dev (docs/results.md)


def best_head_on(words: torch.Tensor, heads: list[int]) -> int:
    """The head [LH, T, T] whose rows' most-attended other word is most often the gold head."""
    t = words.size(-1)
    others = words.masked_fill(torch.eye(t, dtype=torch.bool), -1.0)  # the word itself never counts
    top = others.argmax(-1)  # [LH, T]
    gold = torch.tensor(heads)
    return int(((top == gold) & (gold >= 0)).sum(-1).argmax())


def language_model(g: GuideInputs) -> tuple[str, Figure]:
    """The real thing: a pretrained encoder's WordPiece pieces and heads on the first sentence."""
    from attn_project.analysis.rows import head_names
    from attn_project.pretrained.inspect import sentence_attention
    from attn_project.pretrained.load import load_model, load_tokenizer, max_pieces, model_files

    files = model_files(None, 4.0)
    model, tokenizer = load_model(files), load_tokenizer(files)
    pieces, words, _ = sentence_attention(model, tokenizer, g.tokens, max_pieces(files.config))  # [LH, T, T]
    names = head_names(model.config.num_hidden_layers, model.config.num_attention_heads)
    gold = EXAMPLE_HEADS.get(" ".join(g.tokens))
    chosen = best_head_on(words, gold) if gold else names.index(EWT_BEST_HEAD)
    how = ("the head whose rows most often point at each word's head in a hand parse of this sentence"
           if gold else "the best head for most relations on EWT dev")
    text = (f"a trained language model. After random weights (and the toy `scripts/train.py` trains), "
            f"the attention of a real pretrained encoder: {files.name} (the bundled sentence-transformers "
            f"model, BERT architecture, 6 layers x 12 heads; a sentence-embedding model fine-tuned from "
            f"MiniLM, not BERT itself; its files checked against pinned hashes). Its WordPiece tokenizer "
            f"splits the words into "
            f"pieces ([CLS] and [SEP] added):\n  {' '.join(pieces)}\n  Word-level rows as Clark et "
            f"al. (2019): attention to a word sums over its pieces, from a word averages over them, and each "
            f"row is renormalised over the words (the share [CLS]/[SEP] take is left out). Shown: "
            f"{names[chosen]}, {how}, beside the mean of all {len(names)} heads. "
            f"`attn-pretrained` measures every head on a treebank.")
    fig, axes = plots.new_figure(2)
    plots.heatmap(axes[0], words[chosen], g.tokens, g.tokens, f"{names[chosen]}: finds the head word")
    plots.heatmap(axes[1], words.mean(0), g.tokens, g.tokens, f"mean of all {len(names)} heads")
    fig.suptitle(f"Step 10: a pretrained encoder's attention ({files.name})")
    return text, fig


STEPS: list[tuple[str, Callable[[GuideInputs], tuple[str, Figure]]]] = [
    ("tokenization", tokenization), ("embeddings", embeddings), ("scores", raw_scores),
    ("scaled_scores", scaled_scores), ("softmax_weights", softmax_rows), ("single_head", single_head),
    ("multi_head", multi_head), ("initialisations", initialisations), ("mask_rows", all_masks_in_one_pass),
    ("language_model", language_model),
]


def run_guide(out_dir: str | Path, sentences: Sequence[str] = EXAMPLES, d_model: int = 64,
              num_heads: int = 4, seed: int = 0, say: Callable[[str], None] = print,
              pieces: bool = False) -> list[Path]:
    """Every step in order: its narration to ``say``, its figure to ``out_dir/NN_name.png``;
    ``pieces``: step 1 also shows each word's subword pieces."""
    torch.manual_seed(seed)
    written = []
    with torch.no_grad():
        inputs = GuideInputs.build(sentences, d_model, num_heads, pieces)
        for number, (name, step) in enumerate(STEPS, start=1):
            text, fig = step(inputs)
            written.append(plots.save(fig, Path(out_dir) / f"{number:02d}_{name}.png"))
            say(f"Step {number} — {text}\n  → wrote {written[-1]}")
    return written
