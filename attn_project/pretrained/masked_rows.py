"""A pretrained head's row of each masked word: the attention of the trained control
``model.scores=pretrained``.

For target word i of a sentence the encoder reads the sentence with all of word i's pieces replaced
by one mask token — the classifier never sees the word, and neither does the encoder, so unlike the
gold-tree oracles nothing of the hidden word leaks — and the chosen head's row of that mask piece,
made word-level as the lens makes it (to a word: the sum over its pieces; special tokens dropped),
is word i's row. Words that are not targets keep a row on themselves (no loss reads them). The
encoder runs only up to the chosen layer. The head is chosen on dev by the lens (the best
alignment with the gold tree, every layer × head), unless ``model.pretrained_head`` names one.

Rows are computed once per treebank split and cached in ``data.cache_dir`` (keyed by the model's
files, the head and the split's words and targets): on EWT one forward pass per target, about
170,000 (see docs/pretrained.md for the measured cost).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm import tqdm

from attn_project.analysis.rows import head_names
from attn_project.data.batches import FixedRows, SplitTensors
from attn_project.data.conllu import Sentence
from attn_project.data.files import cached_file, file_digest, read_json, write_json
from attn_project.data.labels import IGNORE
from attn_project.errors import ConfigError, DataError
from attn_project.pretrained.lens import encode_sentences, split_rows
from attn_project.pretrained.load import (
    BUNDLED_SHA256,
    ModelFiles,
    device_of,
    load_config,
    load_model,
    load_tokenizer,
    max_pieces,
    model_files,
)

log = logging.getLogger(__name__)

VERSION = 1  # bump when the rows change meaning: old cache files are then never read
MASK_TOKENS = ("[MASK]", "<mask>")  # BERT-style and RoBERTa-style, when the tokenizer config names none


@dataclass
class MaskedCopy:
    """One target word replaced by the mask token: the piece ids, each piece's word (-1: special),
    and where the mask piece is."""

    sentence: int
    word: int
    ids: list[int]
    word_of_piece: list[int]
    mask_at: int


def parse_head(name: str, layers: int, heads: int) -> tuple[int, int]:
    """``L<l>H<h>`` → (l, h), checked against the model's size."""
    match = re.fullmatch(r"L(\d+)H(\d+)", name)
    if match is None or int(match[1]) >= layers or int(match[2]) >= heads:
        raise ConfigError(f"model.pretrained_head={name!r}: the model has heads L0H0 … "
                          f"L{layers - 1}H{heads - 1}")
    return int(match[1]), int(match[2])


def mask_token_id(tokenizer, folder: Path) -> int:
    """The tokenizer's mask token: as ``tokenizer_config.json`` names it, else [MASK] or <mask>."""
    named = []
    config = folder / "tokenizer_config.json"
    if config.is_file():
        with contextlib.suppress(OSError, ValueError):
            token = json.loads(config.read_text(encoding="utf-8")).get("mask_token")
            named = [token.get("content") if isinstance(token, dict) else token]
    for token in [*named, *MASK_TOKENS]:
        if isinstance(token, str) and tokenizer.token_to_id(token) is not None:
            return int(tokenizer.token_to_id(token))
    raise DataError(f"{folder / 'tokenizer.json'}: no mask token ({', '.join(MASK_TOKENS)}): "
                    f"model.scores=pretrained needs a masked-language-model tokenizer")


def masked_copy(sentence: int, encoding, word: int, mask_id: int) -> MaskedCopy:
    """The encoding with every piece of ``word`` replaced by one mask piece."""
    words = [-1 if w is None or special else w
             for w, special in zip(encoding.word_ids, encoding.special_tokens_mask, strict=True)]
    pieces = [k for k, w in enumerate(words) if w == word]
    first, last = pieces[0], pieces[-1] + 1
    return MaskedCopy(sentence, word, encoding.ids[:first] + [mask_id] + encoding.ids[last:],
                      words[:first] + [word] + words[last:], first)


def layer_list(model: nn.Module, layers: int) -> tuple[nn.Module, str]:
    """The module holding the encoder's layers (BERT: encoder.layer; DistilBERT: transformer.layer)
    and that attribute's name: the one ``nn.ModuleList`` of ``layers`` entries."""
    for module in model.modules():
        for attribute, child in module.named_children():
            if isinstance(child, nn.ModuleList) and len(child) == layers and attribute in ("layer", "layers"):
                return module, attribute
    raise DataError(f"{type(model).__name__}: no list of {layers} encoder layers found to stop early")


@contextlib.contextmanager
def first_layers(model: nn.Module, layers: int, keep: int) -> Iterator[None]:
    """Run only the first ``keep`` of the encoder's ``layers`` layers inside the block. One pass of
    the whole model comes first: transformers records attention weights through hooks it sets on
    the layers at the first call, so a first call with fewer layers would lose the others' for good."""
    owner, attribute = layer_list(model, layers)
    full = getattr(owner, attribute)
    device = next(model.parameters()).device
    with torch.no_grad():
        model(input_ids=torch.zeros(1, 2, dtype=torch.long, device=device), output_attentions=True)
    setattr(owner, attribute, full[:keep])
    try:
        yield
    finally:
        setattr(owner, attribute, full)


def copy_rows(model: nn.Module, copies: Sequence[MaskedCopy], layer: int, head: int, num_words: Sequence[int],
              *, pad_id: int, batch_size: int, device: str) -> list[Tensor]:
    """The chosen head's word-level row [n] of each copy's mask piece, in the order given
    (computed in length-sorted batches)."""
    order = sorted(range(len(copies)), key=lambda k: len(copies[k].ids))
    rows: list[Tensor] = [torch.zeros(0)] * len(copies)
    for start in tqdm(range(0, len(order), batch_size), desc="masked rows", unit="batch", leave=False):
        group = [copies[k] for k in order[start: start + batch_size]]
        width = max(len(c.ids) for c in group)
        ids = torch.full((len(group), width), pad_id, dtype=torch.long)
        attention_mask = torch.zeros(len(group), width, dtype=torch.long)
        for b, c in enumerate(group):
            ids[b, : len(c.ids)], attention_mask[b, : len(c.ids)] = torch.tensor(c.ids), 1
        with torch.no_grad():
            out = model(input_ids=ids.to(device), attention_mask=attention_mask.to(device),
                        output_attentions=True)
        at_mask = torch.tensor([c.mask_at for c in group], device=device)
        pieces = out.attentions[layer][torch.arange(len(group)), head, at_mask].float().cpu()  # [B, P]
        for b, c in enumerate(group):
            n = num_words[order[start + b]]
            index = torch.tensor([w if w >= 0 else n for w in c.word_of_piece])  # specials → a spare slot
            rows[order[start + b]] = torch.zeros(n + 1).scatter_add_(0, index, pieces[b, : len(c.ids)])[:n]
    return rows


def masked_split_rows(model: nn.Module, tokenizer, sentences: Sequence[Sentence], tensors: SplitTensors, *,
                      layer: int, head: int, layers: int, mask_id: int, pad_id: int, limit: int,
                      batch_size: int = 128, device: str = "cpu") -> tuple[FixedRows, dict]:
    """Every target's row of one split, and what it cost (copies, sentences left on their own rows)."""
    start = time.perf_counter()
    kept, too_long, unmapped = encode_sentences(tokenizer, sentences, limit)
    targets = tensors.labels != IGNORE  # [N, L]
    copies = [masked_copy(s, encoding, int(w), mask_id)
              for s, encoding in kept for w in targets[s].nonzero().flatten().tolist()]
    with first_layers(model, layers, layer + 1):
        rows = copy_rows(model, copies, layer, head, [len(sentences[c.sentence]) for c in copies],
                         pad_id=pad_id, batch_size=batch_size, device=device)
    blocks = [torch.eye(len(s)) for s in sentences]  # a non-target (or skipped) word's row: itself
    for c, row in zip(copies, rows, strict=True):
        blocks[c.sentence][c.word] = row
    cost = {"copies": len(copies), "sentences": len(sentences), "left_on_own_rows": too_long + unmapped,
            "seconds": round(time.perf_counter() - start, 1), "threads": torch.get_num_threads()}
    return FixedRows.stack(blocks), cost


def choose_head(model: nn.Module, tokenizer, sentences: Sequence[Sentence], tensors: SplitTensors, *,
                layers: int, heads: int, pad_id: int, limit: int, device: str) -> tuple[str, float]:
    """The lens's head with the best alignment with the gold tree on dev (every layer × head, the
    words unmasked, as ``attn-pretrained`` reads them), and that alignment."""
    rows = split_rows(model, tokenizer, sentences, tensors, layers=layers, max_pieces=limit, pad_id=pad_id,
                      device=device, desc="choosing the head on dev").rows
    alignment = rows.aligned.astype(float).mean(0)  # [L·H]
    best = int(alignment.argmax())
    return head_names(layers, heads)[best], float(alignment[best])


def model_fingerprint(files: ModelFiles) -> str:
    """The model's identity for cache keys: its pinned hashes, or its files' digests."""
    if files.bundled:
        return json.dumps(BUNDLED_SHA256, sort_keys=True)
    names = ["config.json", "tokenizer.json", *sorted(p.name for p in files.folder.glob("*.safetensors"))]
    return json.dumps({name: file_digest(files.folder / name) for name in names})


def split_fingerprint(sentences: Sequence[Sentence], tensors: SplitTensors) -> str:
    digest = hashlib.sha1("\n".join("\t".join(s.tokens) for s in sentences).encode())
    digest.update((tensors.labels != IGNORE).numpy().tobytes())
    return digest.hexdigest()


def read_rows(path: Path) -> dict:
    state = torch.load(path, weights_only=True)
    return {"rows": FixedRows(state["flat"], state["lengths"]), "cost": json.loads(state["cost"])}


def write_rows(path: Path, result: dict) -> None:
    rows: FixedRows = result["rows"]
    partial = path.with_suffix(".partial")
    torch.save({"flat": rows.flat, "lengths": rows.lengths, "cost": json.dumps(result["cost"])}, partial)
    partial.replace(path)


@dataclass
class Encoder:
    """An encoder's files, tokenizer and sizes; its weights are loaded only when rows are computed
    (a run whose rows are cached never loads them)."""

    files: ModelFiles
    tokenizer: object
    layers: int
    heads: int
    pad_id: int
    limit: int  # pieces a sentence may have
    device: str

    @classmethod
    def load(cls, path: str | None, max_memory_gb: float) -> Encoder:
        files = model_files(path, max_memory_gb)
        config = load_config(files)
        return cls(files, load_tokenizer(files), int(config.num_hidden_layers),
                   int(config.num_attention_heads), int(config.pad_token_id or 0), max_pieces(files.config),
                   device_of("auto"))

    @functools.cached_property
    def model(self) -> nn.Module:
        return load_model(self.files, self.device)


def cache_key(*parts: str) -> str:
    return hashlib.sha1("/".join([str(VERSION), *parts]).encode()).hexdigest()[:16]


def dev_chosen_head(encoder: Encoder, dm, cache: Path, model_key: str) -> str:
    """The lens's best-aligned head on dev (cached: one pass over dev)."""
    sentences, tensors = dm.sentences["dev"], dm.tensors["dev"]

    def choose() -> dict:
        name, alignment = choose_head(encoder.model, encoder.tokenizer, sentences, tensors,
                                      layers=encoder.layers, heads=encoder.heads, pad_id=encoder.pad_id,
                                      limit=encoder.limit, device=encoder.device)
        return {"head": name, "dev_alignment": alignment}

    key = cache_key(model_key, split_fingerprint(sentences, tensors))
    chosen = cached_file(cache / f"pretrained-head-{key}.json", choose, read_json, write_json)
    log.info("model.scores=pretrained: %s of %s, chosen on dev (alignment %.3f)", chosen["head"],
             encoder.files.name, chosen["dev_alignment"])
    return str(chosen["head"])


def attach_pretrained_rows(dm, head: str | None, path: str | None, *, max_memory_gb: float = 4.0,
                           batch_size: int = 128, splits: Sequence[str] = ("train", "dev", "test")) -> str:
    """Give the DataModule's ``splits`` a pretrained head's rows of each masked target (cached in
    ``data.cache_dir``); returns the head's name (chosen on dev when ``head`` is None)."""
    encoder = Encoder.load(path, max_memory_gb)
    cache = Path(dm.settings.cache_dir or Path(dm.corpus_folder()) / ".cache")
    model_key = model_fingerprint(encoder.files)
    head = head or dev_chosen_head(encoder, dm, cache, model_key)
    layer, head_index = parse_head(head, encoder.layers, encoder.heads)
    mask_id = mask_token_id(encoder.tokenizer, encoder.files.folder)
    for split in splits:
        sentences, tensors = dm.sentences[split], dm.tensors[split]

        def compute(sentences=sentences, tensors=tensors) -> dict:
            rows, cost = masked_split_rows(encoder.model, encoder.tokenizer, sentences, tensors, layer=layer,
                                           head=head_index, layers=encoder.layers, mask_id=mask_id,
                                           pad_id=encoder.pad_id, limit=encoder.limit, batch_size=batch_size,
                                           device=encoder.device)
            return {"rows": rows, "cost": cost}

        key = cache_key(model_key, head, split_fingerprint(sentences, tensors))
        result = cached_file(cache / f"pretrained-rows-{key}.pt", compute, read_rows, write_rows)
        tensors.fixed_rows = result["rows"]
        log.info("pretrained rows of %s (%s): %s", split, head, result["cost"])
    return head
