"""The tasks: what the classifier predicts about the masked word (``conf/task/*.yaml``).

Every task has the same targets — the words whose UPOS is in ``data.content`` or
``data.function`` (PUNCT, SYM, X, INTJ never are) — and differs only in the label:

- ``content_function``: content word (1) or function word (0), the seed's task;
- ``upos``: the word's UPOS tag, one class per tag of ``data.content`` + ``data.function`` that
  the training targets hold (a tag the train split lacks cannot be learnt: it is left out, said
  in the log, and a test word with it is not a target);
- ``deprel``: the universal part of its relation to its head (``nmod:poss`` → ``nmod``);
  relations with fewer than ``min_count`` training targets are merged into ``other``;
- ``head_distance``: where its head is — ``root``, or left/right by a binned distance
  (``bins: [1, 3]`` → 1, 2–3, ≥ 4 on each side). Solving it needs finding the head;
- ``word``: the hidden word itself, one class per word of the tokenizer's vocabulary that is a
  training target (as BERT is trained, over the same targets as the other tasks, so the [MASK]
  positions and their number are the same; punctuation would add easy, uninformative targets).
  A target the vocabulary lacks ([UNK]: rarer than ``data.min_frequency``) is not a target — never
  trained on, never scored — and the log says how many there are.

Labels come from the CoNLL-U columns the reader keeps (UPOS, HEAD, DEPREL), so every task runs on
the generated corpus and on any UD treebank alike.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from attn_project.data.conllu import Sentence
from attn_project.data.labels import CONTENT, FUNCTION, IGNORE, LabelMap
from attn_project.errors import ConfigError, DataError

log = logging.getLogger(__name__)
TASKS = ("content_function", "upos", "deprel", "head_distance", "word")
OTHER = "other"


def selection_metric(task_name: str) -> str:
    """The validation metric that picks a treebank run's tested epoch (``${selection_metric:…}``):
    class-balanced accuracy, but top-1 for the word task, whose balanced accuracy averages the
    recall of ~1,000 words, most of them seen a few times in dev."""
    return "val/acc" if task_name == "word" else "val/balanced_acc"


@dataclass
class Task:
    """One task's settings (``conf/task/<name>.yaml``) and, once fitted, its class names."""

    name: str = "content_function"
    min_count: int = 50        # deprel: rarer relations (in training targets) become "other"
    bins: list[int] = field(default_factory=lambda: [1, 3])  # head_distance: upper edges on each side
    content: Sequence[str] = CONTENT
    function: Sequence[str] = FUNCTION
    classes: list[str] = field(default_factory=list)
    lowercase: bool = True  # word: how the tokenizer normalises a word before looking it up

    def __post_init__(self) -> None:
        if self.name not in TASKS:
            raise ConfigError(f"task.name={self.name!r}: choose one of {', '.join(TASKS)}")
        if type(self.min_count) is not int or self.min_count < 1:
            raise ConfigError(f"task.min_count={self.min_count!r}: give a positive number of targets")
        if (not isinstance(self.bins, Sequence) or not self.bins or any(type(b) is not int for b in self.bins)
                or list(self.bins) != sorted(set(self.bins)) or self.bins[0] < 1):
            raise ConfigError(f"task.bins={self.bins!r}: give increasing positive distances, e.g. [1, 3]")
        self.label_map = LabelMap(self.content, self.function)  # refuses a tag listed as both
        self.targets = self.label_map.content | self.label_map.function
        if not self.classes:
            self.classes = self.fixed_classes()

    @classmethod
    def from_settings(cls, settings: Mapping | None, content: Sequence[str], function: Sequence[str],
                      lowercase: bool = True) -> Task:
        known = {"name", "min_count", "bins"}
        settings = dict(settings or {})
        unknown = sorted(set(settings) - known)
        if unknown:
            raise ConfigError(f"task.{unknown[0]}: not a task setting; the settings are "
                              f"{', '.join(sorted(known))}")
        return cls(**settings, content=list(content), function=list(function), lowercase=lowercase)

    def fixed_classes(self) -> list[str]:
        """The classes a task has whatever the data (deprel: none until fitted)."""
        if self.name == "content_function":
            return ["function", "content"]
        if self.name == "upos":
            return sorted(self.targets)  # until fitted to the tags the training targets hold
        if self.name == "head_distance":
            return ["root"] + [f"{side} {span}" for side in ("left", "right") for span in self.spans()]
        return []

    def spans(self) -> list[str]:
        """``["1", "2-3", ">=4"]`` for bins [1, 3]."""
        edges, spans, low = list(self.bins), [], 1
        for high in edges:
            spans.append(str(high) if high == low else f"{low}-{high}")
            low = high + 1
        return [*spans, f">={low}"]

    def fit(self, train: Iterable[Sentence], vocabulary: Mapping[str, int] | None = None) -> None:
        """The classes the training targets hold: relations (deprel), tags (upos), the
        vocabulary's words (word: ``vocabulary`` maps a normalised word to its id; ids 0–2 are
        [PAD], [UNK], [MASK]); the other tasks' classes are fixed."""
        if self.name == "word":
            self.fit_words(train, vocabulary or {})
        elif self.name == "upos":
            seen = {tag for s in train for tag in s.upos if tag in self.targets}
            missing = sorted(self.targets - seen)
            if missing:
                log.info("task=upos: the training targets have no %s; those tags are not classes", missing)
            self.classes = sorted(seen)
        elif self.name == "deprel":
            counts = Counter(universal(rel) for s in train for rel, tag in zip(s.deprels, s.upos)
                             if tag in self.targets)
            kept = sorted(rel for rel, n in counts.items() if n >= self.min_count)
            self.classes = kept + ([OTHER] if len(kept) < len(counts) else [])

    def fit_words(self, train: Iterable[Sentence], vocabulary: Mapping[str, int]) -> None:
        targets = Counter(self.normalise(word) for s in train for word, tag in zip(s.tokens, s.upos)
                          if tag in self.targets)
        known = {word for word in targets if vocabulary.get(word, 0) > 2}  # not a special, not [UNK]
        self.classes = sorted(known, key=lambda word: vocabulary[word])  # in the tokenizer's id order
        unknown = sum(n for word, n in targets.items() if word not in known)
        log.info("task=word: %d classes; %d of %d training targets are [UNK] and not targets",
                 len(self.classes), unknown, sum(targets.values()))

    def normalise(self, word: str) -> str:
        return word.lower() if self.lowercase else word

    def check(self, train_labels: Iterable[Iterable[int]], source: str) -> None:
        """At least two classes, each with a training target."""
        seen = Counter(label for labels in train_labels for label in labels if label != IGNORE)
        if len(self.classes) < 2:
            raise DataError(f"{source}: task={self.name} has {len(self.classes)} class(es) in its training "
                            f"targets ({self.classes}); a classifier needs at least two "
                            f"(for deprel: lower task.min_count)")
        empty = [name for k, name in enumerate(self.classes) if not seen[k]]
        if empty:
            raise DataError(f"{source}: task={self.name}: no training target of class(es) {empty}; "
                            f"choose other task.bins, or a larger training split")

    def labels(self, sentence: Sentence) -> list[int]:
        """The class of each word of ``sentence`` (IGNORE for words that are never targets)."""
        index = {name: k for k, name in enumerate(self.classes)}
        out = []
        for i, tag in enumerate(sentence.upos):
            if tag not in self.targets:
                out.append(IGNORE)
            elif self.name == "word":
                out.append(index.get(self.normalise(sentence.tokens[i]), IGNORE))
            elif self.name == "content_function":
                out.append(self.label_map.label(tag))
            elif self.name == "upos":
                out.append(index.get(tag, IGNORE))
            elif self.name == "deprel":
                out.append(index.get(universal(sentence.deprels[i]), index.get(OTHER, IGNORE)))
            else:
                out.append(index[self.distance_class(i, sentence.heads[i])])
        return out

    def distance_class(self, position: int, head: int) -> str:
        """``root``, or ``left 2-3`` for a head two or three words to the left, …"""
        if head < 0:
            return "root"
        distance, side = abs(head - position), "left" if head < position else "right"
        for span, high in zip(self.spans(), self.bins):
            if distance <= high:
                return f"{side} {span}"
        return f"{side} {self.spans()[-1]}"


def universal(relation: str) -> str:
    """The universal part of a UD relation: ``nmod:poss`` → ``nmod``."""
    return relation.split(":", 1)[0]
