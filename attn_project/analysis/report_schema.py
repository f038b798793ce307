"""The attention report, typed: what ``attention_report.json`` holds (docs/report.md).

A number with an interval is an ``Estimate``; in JSON it is ``<name>`` with ``<name>_ci95``
beside it. The report's parts are dataclasses with ``to_json``/``from_json``: the report
writer builds them, the Markdown, figures and studies read them, and ``from_json`` turns a
file that does not fit into one ``ReportError`` naming the key.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Literal, TypeGuard

import numpy as np


class ReportError(ValueError):
    """A report whose JSON does not fit this schema; the message names the key."""


def clean(value: object) -> object:
    """JSON-safe: NaN → None, numpy scalars → Python, recursively."""
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer | np.bool_):
        return value.item()
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ── reading JSON with the key named on failure ─────────────────────────────────────────────
def obj(entry: object, where: str) -> dict:
    if not isinstance(entry, dict):
        raise ReportError(f"{where or 'the report'} is not a JSON object")
    return entry


def number(entry: dict, key: str, where: str) -> float | None:
    value = entry.get(key)
    if value is not None and not is_number(value):
        raise ReportError(f"{where}.{key} is not a number")
    return None if value is None else float(value)


def count(entry: dict, key: str, where: str) -> int:
    value = entry.get(key)
    if not is_number(value):
        raise ReportError(f"{where}.{key}: the count is missing or not a number")
    return int(value)


def text(entry: dict, key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ReportError(f"{where}.{key} is not text")
    return value


# ── a value with its interval ──────────────────────────────────────────────────────────────
@dataclass(frozen=True)
class Estimate:
    """A value and its 95% interval (either may be missing: no rows, one run)."""

    value: float | None
    ci95: tuple[float, float] | None = None

    @classmethod
    def of(cls, value: object, ci95: object = None) -> Estimate:
        """From numbers as computed (numpy or NaN allowed: NaN is no value)."""
        v = clean(value)
        ci = clean(ci95)
        return cls(v if is_number(v) else None,
                   (float(ci[0]), float(ci[1])) if isinstance(ci, list) and None not in ci else None)

    @classmethod
    def read(cls, entry: dict, key: str, where: str) -> Estimate:
        """``entry[key]`` and ``entry[key + "_ci95"]``."""
        ci = entry.get(f"{key}_ci95")
        if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(is_number, ci))):
            raise ReportError(f"{where}.{key}_ci95 is not a pair of numbers")
        return cls(number(entry, key, where), None if ci is None else (float(ci[0]), float(ci[1])))

    def write(self, key: str) -> dict:
        return {key: self.value, f"{key}_ci95": None if self.ci95 is None else list(self.ci95)}

    @property
    def half_width(self) -> float | None:
        return None if self.ci95 is None else (self.ci95[1] - self.ci95[0]) / 2

    def side_of_zero(self) -> int:
        """+1 when the interval lies above 0, −1 below, 0 when it contains 0 (or is missing)."""
        if self.ci95 is None:
            return 0
        return 1 if self.ci95[0] > 0 else -1 if self.ci95[1] < 0 else 0

    def errors(self) -> tuple[float, float]:
        """Error-bar lengths below and above the value (0 without an interval)."""
        if self.value is None or self.ci95 is None:
            return 0.0, 0.0
        return max(0.0, self.value - self.ci95[0]), max(0.0, self.ci95[1] - self.value)

    def format(self, digits: int = 3, style: Literal["interval", "plus_minus"] = "interval") -> str:
        """``0.428 [0.421, 0.436]`` (a run's bootstrap interval) or ``0.428 ± 0.008`` (half-width,
        a study over seeds); the value alone without an interval, ``–`` without a value."""
        value = fmt(self.value, digits)
        if self.value is None or self.ci95 is None:
            return value
        if style == "plus_minus":
            return f"{value} ± {self.half_width:.{digits}f}"
        return f"{value} [{fmt(self.ci95[0], digits)}, {fmt(self.ci95[1], digits)}]"


def fmt(value: float | None, digits: int = 3) -> str:
    """A plain number for a table, ``–`` where there is none."""
    return "–" if value is None else f"{value:.{digits}f}"


# ── the report's parts ─────────────────────────────────────────────────────────────────────
MEASURES = ("entropy", "dep_alignment", "dep_mass", "self_share")


@dataclass
class AttentionSummary:
    """Head-averaged measures of the [MASK]'s rows (``before``, ``after``) and a per-head table."""

    entropy: Estimate
    dep_alignment: Estimate
    dep_mass: Estimate
    self_share: Estimate
    per_head: dict[str, list] = field(default_factory=dict)
    rows: int | None = None

    def to_json(self) -> dict:
        out: dict = {}
        for name in MEASURES:
            out |= getattr(self, name).write(name)
        return out | {"per_head": self.per_head, "rows": self.rows}

    @classmethod
    def from_json(cls, entry: object, where: str) -> AttentionSummary:
        entry = obj(entry, where)
        per_head = obj(entry.get("per_head") or {}, f"{where}.per_head")
        rows = entry.get("rows")
        def read(name: str) -> Estimate:
            return Estimate.read(entry, name, where)

        return cls(read("entropy"), read("dep_alignment"), read("dep_mass"), read("self_share"),
                   per_head=per_head, rows=int(rows) if is_number(rows) else None)

    @property
    def num_heads(self) -> int:
        return len(self.per_head.get("entropy", [])) or 1


@dataclass
class RelationEntry:
    """One relation of a per-relation table: alignment before and after, the best offset, and two
    tested verdicts, each corrected on its own: ``beats_position`` (the best head vs the dev-chosen
    offset) and ``changed_by_training`` (the best head vs the untrained model's same head; None where
    the rows cannot train, no untrained model was run, or fewer rows than a verdict needs)."""

    n: int
    after: Estimate
    before: float | None = None
    best_offset: float | None = None
    best_offset_name: str | None = None
    after_per_head: list = field(default_factory=list)
    best_head: int | None = None
    best_head_after: Estimate = field(default_factory=lambda: Estimate(None))  # that head alone, on test
    p_value: float | None = None  # best head vs the best offset
    p_adjusted: float | None = None
    beats_position: bool | None = None
    p_value_training: float | None = None  # best head vs the untrained model's
    p_adjusted_training: float | None = None
    changed_by_training: bool | None = None
    # weights beside hit rates: the best head's mean weight on the gold link (test, with its interval)
    # and on the word at the best offset (None: rows that kept no weights)
    best_head_weight: Estimate = field(default_factory=lambda: Estimate(None))
    best_head_offset_weight: float | None = None

    def to_json(self) -> dict:
        return {"n": self.n, "before": self.before, **self.after.write("after"),
                "after_per_head": self.after_per_head, "best_offset": self.best_offset,
                "best_offset_name": self.best_offset_name, "best_head": self.best_head,
                **self.best_head_after.write("best_head_after"), "p_value": self.p_value,
                "p_adjusted": self.p_adjusted, "beats_position": self.beats_position,
                "p_value_training": self.p_value_training, "p_adjusted_training": self.p_adjusted_training,
                "changed_by_training": self.changed_by_training,
                **self.best_head_weight.write("best_head_weight"),
                "best_head_offset_weight": self.best_head_offset_weight}

    @classmethod
    def from_json(cls, entry: object, where: str) -> RelationEntry:
        entry = obj(entry, where)
        verdict, changed = entry.get("beats_position"), entry.get("changed_by_training")
        for name, value in (("beats_position", verdict), ("changed_by_training", changed)):
            if not isinstance(value, bool | None):
                raise ReportError(f"{where}.{name} is not true, false or null")
        head = entry.get("best_head")
        return cls(n=count(entry, "n", where), after=Estimate.read(entry, "after", where),
                   before=number(entry, "before", where), best_offset=number(entry, "best_offset", where),
                   best_offset_name=text(entry, "best_offset_name", where),
                   after_per_head=list(entry.get("after_per_head") or []),
                   best_head=int(head) if is_number(head) else None,
                   best_head_after=Estimate.read(entry, "best_head_after", where),
                   p_value=number(entry, "p_value", where), p_adjusted=number(entry, "p_adjusted", where),
                   beats_position=verdict, p_value_training=number(entry, "p_value_training", where),
                   p_adjusted_training=number(entry, "p_adjusted_training", where),
                   changed_by_training=changed,
                   best_head_weight=Estimate.read(entry, "best_head_weight", where),
                   best_head_offset_weight=number(entry, "best_head_offset_weight", where))

    @property
    def margin(self) -> float | None:
        """Alignment after training minus the best fixed offset's, on this relation's rows."""
        if self.after.value is None or self.best_offset is None:
            return None
        return self.after.value - self.best_offset


RELATION_TABLES = {"per_relation": "head", "per_relation_to_dependent": "dependent"}


@dataclass
class AttentionBlock:
    """Where the trained maps look (of the weights at the top level, or the ``effective`` block):
    ``after``, ``alignment_margin``, the fixed offsets and both per-relation tables."""

    after: AttentionSummary
    alignment_margin: Estimate  # JSON: {"mean", "mean_ci95"}
    best_offset_name: str
    best_offset: Estimate  # JSON: {"offset", "dep_alignment", "dep_alignment_ci95"}
    offset_baselines: dict[str, float | None] = field(default_factory=dict)
    per_relation: dict[str, RelationEntry] = field(default_factory=dict)
    per_relation_to_dependent: dict[str, RelationEntry] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"after": self.after.to_json(), "alignment_margin": self.alignment_margin.write("mean"),
                "offset_baselines": {o: {"dep_alignment": v} for o, v in self.offset_baselines.items()},
                "best_offset": {"offset": self.best_offset_name, **self.best_offset.write("dep_alignment")},
                **{key: {rel: r.to_json() for rel, r in getattr(self, key).items()}
                   for key in RELATION_TABLES}}

    @classmethod
    def fields_from_json(cls, entry: dict, prefix: str = "") -> dict:
        """The block's fields from ``entry`` (the report, or its ``effective`` object)."""
        best = obj(entry.get("best_offset") or {}, f"{prefix}best_offset")
        margin = obj(entry.get("alignment_margin") or {}, f"{prefix}alignment_margin")
        offsets = obj(entry.get("offset_baselines") or {}, f"{prefix}offset_baselines")
        return {
            "after": AttentionSummary.from_json(entry.get("after") or {}, f"{prefix}after"),
            "alignment_margin": Estimate.read(margin, "mean", f"{prefix}alignment_margin"),
            "best_offset_name": text(best, "offset", f"{prefix}best_offset") or "",
            "best_offset": Estimate.read(best, "dep_alignment", f"{prefix}best_offset"),
            "offset_baselines": {o: number(obj(v, f"{prefix}offset_baselines.{o}"), "dep_alignment",
                                           f"{prefix}offset_baselines.{o}") for o, v in offsets.items()},
            **{key: {rel: RelationEntry.from_json(r, f"{prefix}{key}.{rel}")
                     for rel, r in obj(entry.get(key) or {}, f"{prefix}{key}").items()}
               for key in RELATION_TABLES},
        }

    def tested(self) -> list[tuple[str, str, bool]]:
        """(relation, "head" or "dependent", verdict) for every relation with a verdict."""
        return [(rel, side, bool(r.beats_position)) for key, side in RELATION_TABLES.items()
                for rel, r in getattr(self, key).items() if r.beats_position is not None]

    def changed(self) -> list[tuple[str, str, bool]]:
        """(relation, "head" or "dependent", changed by training) for every relation with that verdict."""
        return [(rel, side, bool(r.changed_by_training)) for key, side in RELATION_TABLES.items()
                for rel, r in getattr(self, key).items() if r.changed_by_training is not None]


@dataclass
class EffectiveBlock(AttentionBlock):
    """``AttentionBlock`` of the effective attention; ``before_is`` what its verdicts compare
    with: the untrained model's effective attention, or its weights (no untrained weights kept)."""

    before_is: str = "effective"

    def to_json(self) -> dict:
        return {"before_is": self.before_is, **super().to_json()}

    @classmethod
    def from_json(cls, entry: object, name: str = "effective") -> EffectiveBlock:
        entry = obj(entry, name)
        return cls(**cls.fields_from_json(entry, f"{name}."),
                   before_is=text(entry, "before_is", name) or name)


SCORES = ("acc", "balanced_acc", "macro_f1")
BINARY_SCORES = ("f1", "content_share")


@dataclass
class Classification:
    """Test scores with intervals: accuracy, balanced accuracy, macro-F1 (and for two classes
    F1 of the content class and its share); the majority class and recall per class."""

    acc: Estimate
    balanced_acc: Estimate
    macro_f1: Estimate
    f1: Estimate | None = None
    content_share: Estimate | None = None
    majority_class: str | None = None
    majority_share: Estimate | None = None
    per_class: dict[str, dict] = field(default_factory=dict)  # class → {support, recall}

    def to_json(self) -> dict:
        out: dict = {}
        for name in (*SCORES, *BINARY_SCORES):
            value = getattr(self, name)
            out |= value.write(name) if value is not None else {}
        if self.majority_share is not None:
            out |= {"majority_class": self.majority_class, **self.majority_share.write("majority_share"),
                    "per_class": self.per_class}
        return out

    @classmethod
    def from_json(cls, entry: object, where: str = "test") -> Classification:
        entry = obj(entry, where)
        def read(name: str) -> Estimate:
            return Estimate.read(entry, name, where)

        def optional(name: str) -> Estimate | None:
            return read(name) if name in entry else None

        return cls(read("acc"), read("balanced_acc"), read("macro_f1"), f1=optional("f1"),
                   content_share=optional("content_share"), majority_share=optional("majority_share"),
                   majority_class=text(entry, "majority_class", where),
                   per_class=obj(entry.get("per_class") or {}, f"{where}.per_class"))


@dataclass
class Intervention:
    """The test scores with the [MASK]'s row replaced by one rule, and the change in accuracy
    against the learned row (paired bootstrap over test sentences)."""

    acc: Estimate
    balanced_acc: Estimate
    macro_f1: Estimate
    delta: Estimate
    offset: str | None = None  # best_offset: which offset

    def to_json(self) -> dict:
        out: dict = {}
        for name in (*SCORES, "delta"):
            out |= getattr(self, name).write(name)
        return out | ({"offset": self.offset} if self.offset is not None else {})

    @classmethod
    def from_json(cls, entry: object, where: str) -> Intervention:
        entry = obj(entry, where)
        def read(name: str) -> Estimate:
            return Estimate.read(entry, name, where)

        return cls(read("acc"), read("balanced_acc"), read("macro_f1"), read("delta"),
                   offset=text(entry, "offset", where))


@dataclass
class AnalysisSettings:
    """How the report was computed."""

    punct_edges: bool
    bootstrap_resamples: int
    bootstrap_seed: int | None  # None: a report from before it was recorded (its draws followed data.seed)
    correction: str
    alpha: float
    min_rows_for_verdict: int
    best_head_chosen_on: str
    offsets_chosen_on: str | None = None  # None: a report from before it was recorded (test)
    relation_test: str | None = None  # None: before it was recorded (McNemar over rows)
    # what changed_by_training tested: TRAINING_TESTED, or why it does not apply (None: a report from
    # before the verdicts were split, when beats_position had to beat the untrained model too)
    training_verdict: str | None = None


def baseline(entry: object, where: str) -> dict:
    """A baseline's scores (plain numbers: fitted once, no interval)."""
    entry = obj(entry, where)
    for name in SCORES:
        number(entry, name, where)
    return entry


def estimates_json(estimates: dict[str, Estimate]) -> dict:
    """{name: value, name_ci95: [lo, hi]} of several estimates."""
    out: dict = {}
    for name, estimate in estimates.items():
        out |= estimate.write(name)
    return out


def estimates_from_json(entry: object, where: str) -> dict[str, Estimate]:
    entry = obj(entry, where)
    return {name: Estimate.read(entry, name, where) for name in entry if not name.endswith("_ci95")}


STUDY_INTERVENTIONS = ("uniform", "best_offset", "gold_head", "gold_neighbourhood", "self", "untrained")
LAYER_INTERVENTION = re.compile(r"uniform_layer\d+")  # a deep model's layer made uniform


@dataclass
class Report:
    """The whole report. ``weights`` is written at the JSON's top level (``after``,
    ``per_relation``, …), beside ``before``, ``entropy_change`` and ``test``."""

    run: dict
    analysis: AnalysisSettings | None
    test: Classification
    baselines: dict[str, dict]
    before: AttentionSummary
    entropy_change: Estimate  # JSON: {"mean", "mean_ci95"}
    weights: AttentionBlock
    interventions: dict[str, Intervention] = field(default_factory=dict)
    effective: EffectiveBlock | None = None
    contributions: EffectiveBlock | None = None  # exact per-key shares (models linear after attention)
    entropy_by_class: dict[str, Estimate] = field(default_factory=dict)  # content_function: rows by class

    def to_json(self) -> dict:
        out = {"run": self.run, "analysis": None if self.analysis is None else vars(self.analysis),
               "test": self.test.to_json(), "baselines": self.baselines, "before": self.before.to_json(),
               "entropy_change": self.entropy_change.write("mean"), **self.weights.to_json()}
        if self.interventions:
            out["interventions"] = {name: i.to_json() for name, i in self.interventions.items()}
        if self.effective is not None:
            out["effective"] = self.effective.to_json()
        if self.contributions is not None:
            out["contributions"] = self.contributions.to_json()
        if self.entropy_by_class:
            out["entropy_by_class"] = estimates_json(self.entropy_by_class)
        return clean(out)  # type: ignore[return-value]

    @classmethod
    def from_json(cls, entry: object) -> Report:
        """The report of a JSON object; blocks an older or smaller report lacks are empty."""
        entry = obj(entry, "")
        analysis = entry.get("analysis")
        try:
            settings = AnalysisSettings(**{"bootstrap_seed": None, **analysis}) if analysis else None
        except TypeError as err:
            raise ReportError(f"analysis: {err}") from None
        return cls(
            run=obj(entry.get("run") or {}, "run"), analysis=settings,
            test=Classification.from_json(entry.get("test") or {}),
            baselines={name: baseline(b, f"baselines.{name}")
                       for name, b in obj(entry.get("baselines") or {}, "baselines").items()},
            before=AttentionSummary.from_json(entry.get("before") or {}, "before"),
            entropy_change=Estimate.read(obj(entry.get("entropy_change") or {}, "entropy_change"), "mean",
                                         "entropy_change"),
            weights=AttentionBlock(**AttentionBlock.fields_from_json(entry)),
            interventions={name: Intervention.from_json(i, f"interventions.{name}")
                           for name, i in obj(entry.get("interventions") or {}, "interventions").items()},
            effective=EffectiveBlock.from_json(entry["effective"]) if entry.get("effective") else None,
            contributions=(EffectiveBlock.from_json(entry["contributions"], "contributions")
                           if entry.get("contributions") else None),
            entropy_by_class=estimates_from_json(entry.get("entropy_by_class") or {}, "entropy_by_class"),
        )

    def study_metrics(self) -> dict[str, float]:
        """The run's numbers a study aggregates over seeds (names as in study.json)."""
        weights, effective = self.weights, self.effective
        values: dict[str, float | None] = {f"test/{name}": getattr(self.test, name).value for name in SCORES}
        for name in ("f1", "majority_share"):
            estimate = getattr(self.test, name)
            values[f"test/{name}"] = None if estimate is None else estimate.value
        test_loop = self.run.get("test_loop") or {}
        for name in ("top5_acc", "perplexity"):  # the word task's, as Lightning's test loop logged them
            values[f"test/{name}"] = test_loop.get(f"test/{name}")
        for name, scores in self.baselines.items():
            values[f"baseline/{name}"] = scores.get("acc")
            values[f"baseline/{name}_balanced"] = scores.get("balanced_acc")
            values[f"baseline/{name}_top5"] = scores.get("top5_acc")
            values[f"baseline/{name}_perplexity"] = scores.get("perplexity")
        for name in MEASURES:
            values[f"{name}/before"] = getattr(self.before, name).value
            values[f"{name}/after"] = getattr(weights.after, name).value
        values |= {"best_offset": weights.best_offset.value, "entropy_change": self.entropy_change.value,
                   "alignment_margin": weights.alignment_margin.value}
        if effective is not None:
            values |= {"effective/entropy": effective.after.entropy.value,
                       "effective/dep_alignment": effective.after.dep_alignment.value,
                       "effective/alignment_margin": effective.alignment_margin.value}
        for name, estimate in self.entropy_by_class.items():
            values[f"entropy_by_class/{name}"] = estimate.value
        if self.contributions is not None:
            values |= {"contributions/dep_alignment": self.contributions.after.dep_alignment.value,
                       "contributions/alignment_margin": self.contributions.alignment_margin.value}
        layers = [rule for rule in self.interventions if LAYER_INTERVENTION.fullmatch(rule)]
        for rule in [*STUDY_INTERVENTIONS, *layers]:
            if rule in self.interventions:
                values |= {f"intervention/{rule}/acc": self.interventions[rule].acc.value,
                           f"intervention/{rule}/delta": self.interventions[rule].delta.value}
        for name, half in self.bootstrap_half_widths().items():
            values[f"{name}/bootstrap_half_width"] = half
        return {name: value for name, value in values.items() if is_number(value)}

    def bootstrap_half_widths(self) -> dict[str, float | None]:
        """Half the width of the run's 95% sentence-bootstrap interval of each study metric that has
        one: the test sample's own variance, which an interval over seeds on one test set omits
        (``study.findings`` reports a seed interval narrower than this with this one)."""
        weights = self.weights
        estimates = {f"test/{name}": getattr(self.test, name) for name in SCORES}
        estimates |= {f"{name}/after": getattr(weights.after, name) for name in MEASURES}
        estimates |= {"best_offset": weights.best_offset, "alignment_margin": weights.alignment_margin,
                      "entropy_change": self.entropy_change}
        estimates |= {f"entropy_by_class/{name}": e for name, e in self.entropy_by_class.items()}
        estimates |= {f"intervention/{rule}/delta": i.delta for rule, i in self.interventions.items()}
        return {name: e.half_width for name, e in estimates.items() if isinstance(e, Estimate)}
