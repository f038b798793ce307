"""Tensors built once per split, and batches cut from them without per-item Python work.

A split is stored as padded matrices (``ids``, ``labels``, ``heads``, ``rels`` of shape
[N, L]); a batch is an index list, and the dataset slices the rows and trims the columns to the
longest sentence in the batch. Two batchings:

- ``sentences``: a batch is a set of sentences; the model classifies every target in one pass.
- ``examples``: a batch is a set of (sentence, position) pairs with that token replaced by [MASK].
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor
from torch.utils.data import Dataset, Sampler

from attn_project.data.labels import IGNORE
from attn_project.errors import ConfigError

PAD_HEAD = -100


@dataclass
class SplitTensors:
    """One split, padded to its longest sentence: ids/labels/heads/rels [N, L], lengths [N],
    punct [N, L] (True where the word's UPOS is PUNCT). With subword pieces, ids is [N, L, 1 + P]:
    each word's id and its pieces (``pieces.py``)."""

    ids: Tensor
    labels: Tensor
    heads: Tensor
    rels: Tensor
    lengths: Tensor
    punct: Tensor
    fixed_rows: FixedRows | None = None  # model.scores=pretrained: each word's row, from outside the model

    @classmethod
    def build(cls, ids: Sequence[Sequence], labels: list[list[int]], heads: list[list[int]],
              rels: list[list[int]], punct: list[list[bool]] | None = None) -> SplitTensors:
        lengths = torch.tensor([len(x) for x in ids], dtype=torch.long)
        width = int(lengths.max()) if len(ids) else 1

        row = torch.repeat_interleave(torch.arange(len(ids)), lengths)  # [total tokens]
        col = torch.arange(len(row)) - torch.repeat_interleave(lengths.cumsum(0) - lengths, lengths)

        def pad(rows: Sequence[Sequence], value: int) -> Tensor:
            flat = torch.tensor(list(itertools.chain.from_iterable(rows)), dtype=torch.long)  # [tokens, *P]
            out = torch.full((len(rows), width, *flat.shape[1:]), value, dtype=torch.long)
            out[row, col] = flat
            return out

        punct = punct if punct is not None else [[False] * len(x) for x in ids]
        return cls(pad(ids, 0), pad(labels, IGNORE), pad(heads, PAD_HEAD), pad(rels, -1), lengths,
                   pad(punct, 0).bool())

    def first(self, n: int) -> SplitTensors:
        """The first ``n`` sentences."""
        rows = None if self.fixed_rows is None else self.fixed_rows.first(n)
        cut = {f.name: getattr(self, f.name)[:n] for f in fields(self) if f.name != "fixed_rows"}
        return SplitTensors(**cut, fixed_rows=rows)

    def rows_of(self, index: Tensor, width: int) -> dict[str, Tensor]:
        """``{"rows": [B, width, width]}`` of the sentences ``index`` when the split has fixed rows."""
        return {} if self.fixed_rows is None else {"rows": self.fixed_rows.batch(index, width)}

    def __len__(self) -> int:
        return len(self.lengths)

    def examples(self) -> tuple[Tensor, Tensor]:
        """Every target as (sentence index, position), in corpus order: two [E] tensors."""
        sentence, position = (self.labels != IGNORE).nonzero(as_tuple=True)
        return sentence, position


@dataclass
class FixedRows:
    """One attention row per word of each sentence, made outside the model (a pretrained head's row
    of the masked word: ``model.scores=pretrained``), stored ragged: sentence s's [n, n] block is
    ``flat[offsets[s]: offsets[s] + n * n]`` (float16: EWT train's 5.3 M weights take 10 MB)."""

    flat: Tensor  # [sum of n²] float16
    lengths: Tensor  # [N]

    @classmethod
    def stack(cls, blocks: Sequence[Tensor]) -> FixedRows:
        """Per-sentence [n, n] blocks → one ragged table."""
        flat = torch.cat([b.reshape(-1) for b in blocks]) if blocks else torch.zeros(0)  # [sum n²]
        return cls(flat.half(), torch.tensor([b.size(0) for b in blocks], dtype=torch.long))

    @property
    def offsets(self) -> Tensor:
        return (self.lengths ** 2).cumsum(0) - self.lengths ** 2  # [N]

    def block(self, s: int) -> Tensor:
        """Sentence s's rows [n, n] (float32)."""
        return self.batch(torch.tensor([s]), int(self.lengths[s]))[0]

    def batch(self, index: Tensor, width: int) -> Tensor:
        """The rows of sentences ``index`` [B], zero-padded to [B, width, width]."""
        out = torch.zeros(len(index), width, width)
        offsets = self.offsets
        for b, s in enumerate(index.tolist()):
            n, start = int(self.lengths[s]), int(offsets[s])
            out[b, :n, :n] = self.flat[start: start + n * n].float().view(n, n)  # [n²] → [n, n]
        return out

    def first(self, n: int) -> FixedRows:
        return FixedRows(self.flat[: int((self.lengths[:n] ** 2).sum())], self.lengths[:n])


class SentenceBatches(Dataset):
    """``dataset[list_of_sentence_indices]`` → one batch of unmasked sentences."""

    def __init__(self, split: SplitTensors):
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, indices: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(indices)
        lengths = self.split.lengths[index]
        width = int(lengths.max())
        return {"ids": self.split.ids[index, :width], "labels": self.split.labels[index, :width],
                "heads": self.split.heads[index, :width], "lengths": lengths, "index": index,
                **self.split.rows_of(index, width)}


class ExampleBatches(Dataset):
    """``dataset[list_of_example_indices]`` → one batch of sentences, each with one [MASK]."""

    def __init__(self, split: SplitTensors, mask_id: int):
        self.split, self.mask_id = split, mask_id
        self.sentence, self.position = split.examples()
        self.lengths = split.lengths[self.sentence]  # [E], for bucketing

    def __len__(self) -> int:
        return len(self.sentence)

    def __getitem__(self, indices: list[int]) -> dict[str, Tensor]:
        index = torch.as_tensor(indices)
        sentence, position = self.sentence[index], self.position[index]
        lengths = self.split.lengths[sentence]
        width = int(lengths.max())
        ids = self.split.ids[sentence, :width].clone()
        rows = torch.arange(len(index))
        ids[rows, position] = self.mask_id
        return {"ids": ids, "labels": self.split.labels[sentence, position], "mask_pos": position,
                "heads": self.split.heads[sentence, :width], "lengths": lengths, "index": sentence,
                **self.split.rows_of(sentence, width)}


class RandomMaskBatches(SentenceBatches):
    """``dataset[list_of_sentence_indices]`` → one batch of sentences, each with a random share
    (``rate``, at least one) of its targets replaced by [MASK] at once: BERT-style training for a
    deep model, an approximation of the one-mask task (a target's context may hold other masks)."""

    def __init__(self, split: SplitTensors, mask_id: int, rate: float):
        super().__init__(split)
        self.mask_id, self.rate = mask_id, rate

    def __getitem__(self, indices: list[int]) -> dict[str, Tensor]:
        batch = super().__getitem__(indices)
        ids, labels = batch["ids"].clone(), batch["labels"]
        targets = labels != IGNORE  # [B, T]
        draw = torch.rand(targets.shape).masked_fill(~targets, 2.0)  # [B, T]: non-targets never drawn
        first = draw.argmin(-1, keepdim=True)  # every sentence with a target masks at least one
        masked = (draw < self.rate) | (torch.zeros_like(targets).scatter_(-1, first, True) & targets)
        ids[masked] = self.mask_id
        return {**batch, "ids": ids, "labels": labels.masked_fill(~masked, IGNORE), "masked": masked}


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar length: shuffle, sort within pools of ``pool`` batches, shuffle batches.

    Seeded by ``seed`` and the epoch (``set_epoch``, which Lightning calls), so a resumed run
    sees the same batches. Shards batches across ranks itself (round-robin). With ``passes`` > 1
    (shuffled only) an epoch goes over the data that many times, each in a new order.
    """

    def __init__(self, lengths: Tensor, batch_size: int, shuffle: bool, seed: int = 0,
                 pool: int = 50, drop_last: bool = False, passes: int = 1):
        if batch_size <= 0:
            raise ConfigError(f"data.batch_size={batch_size} must be positive")
        self.lengths, self.batch_size, self.shuffle = lengths, batch_size, shuffle
        self.seed, self.pool, self.drop_last, self.epoch = seed, pool, drop_last, 0
        self.passes = passes if shuffle else 1

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def batches(self) -> list[list[int]]:
        n = len(self.lengths)
        if not self.shuffle:
            by_length = torch.argsort(self.lengths, stable=True)
            return [by_length[i: i + self.batch_size].tolist() for i in range(0, n, self.batch_size)]
        g = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        perm = torch.cat([torch.randperm(n, generator=g) for _ in range(self.passes)])  # [n * passes]
        batches: list[Tensor] = []
        span = self.batch_size * self.pool
        for start in range(0, len(perm), span):
            chunk = perm[start: start + span]
            chunk = chunk[torch.argsort(self.lengths[chunk], stable=True)]
            batches += [chunk[i: i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last and batches and len(batches[-1]) < self.batch_size:
            batches.pop()
        order = torch.randperm(len(batches), generator=g).tolist()
        return [batches[i].tolist() for i in order]

    def __iter__(self) -> Iterator[list[int]]:
        # A generator: the order is drawn at the first batch, after Lightning's set_epoch (on a
        # resumed run Lightning creates the iterator before it sets the epoch).
        rank, world = distributed_rank()
        batches = self.batches()
        if world > 1:
            batches = batches[: len(batches) - len(batches) % world][rank::world]
        yield from batches

    def __len__(self) -> int:
        _, world = distributed_rank()
        n, span = len(self.lengths) * self.passes, self.batch_size * self.pool
        if self.shuffle:  # whole pools, then the last (shorter) pool
            count = (n // span) * self.pool + -(-(n % span) // self.batch_size)
            if self.drop_last and n % self.batch_size:
                count -= 1
        else:
            count = -(-n // self.batch_size)
        return count // world if world > 1 else count


def distributed_rank() -> tuple[int, int]:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1
