"""Findings: paired comparisons over seeds, their verdict words, and the tables the README and
docs/results.md show — generated from study files, never typed by hand.

A findings file (YAML) lists comparisons; each names a study (its ``study.json``, relative to the
findings file), a metric, setting ``a`` and either setting ``b`` or a ``baseline``, and the margin
within which two settings are called level. ``baseline`` is a metric of ``a``'s runs (e.g.
``baseline/bigram`` for its accuracy, ``baseline/bigram_class_balanced_balanced`` for the
class-balanced fit's balanced accuracy) or a constant (e.g. 0); ``label``, optional, names ``a``
in the table where its setting alone would not. An entry with ``report`` instead reads one
model's number and its bootstrap interval from a report (``report_value``); a file that is a
mapping with ``relations`` is the per-relation table (``relations_markdown``)::

    - name: learned head vs position-only head
      study: studies/headline_ewt/study.json
      metric: test/acc
      a: {experiment: ud_single_head}
      b: {experiment: ud_single_head_position}
      margin: 0.01

The difference is paired: per seed, a's value minus b's (or minus the baseline, fitted once), then
the mean and its 95% Student's t interval over the seeds both have. ``baseline`` may be a list: the
strongest of them (``lower_is_better`` for perplexity), so a verdict faces the best baseline scored
the same way (class-balanced where the metric is balanced accuracy). ``bootstrap`` names the run
metric whose sentence-bootstrap interval is the paired interval of this difference (e.g.
``alignment_margin``): where the seed interval is narrower than that — it omits the test sample's
own variance, and is zero for rows that do not vary across seeds — the bootstrap's is used and the
table says so. The verdict says only what that interval says (``verdict``). Blocks of a Markdown
page between ``<!-- findings:NAME -->`` and ``<!-- /findings:NAME -->`` are replaced by the table
of the findings file NAME (``fill_blocks``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import yaml

from attn_project.analysis.report_schema import Estimate
from attn_project.errors import DataError
from attn_project.study.aggregate import estimate, mean_ci

HEADLINE_SEEDS = 10  # a headline comparison needs at least this many paired seeds
REQUIRED = ("name", "study", "metric", "a", "margin")
REPORT_REQUIRED = ("name", "report", "value", "margin")  # one model's number, its bootstrap interval


def read_findings_file(path: Path) -> object:
    """The parsed YAML of a findings file; an unreadable one is a DataError naming it."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise DataError(f"{path}: cannot read the findings file ({err})") from None


def load_findings(path: Path, entries: object = None) -> list[dict]:
    """The findings file's comparisons (``entries``: already parsed), each checked; errors name the
    file and the entry."""
    entries = read_findings_file(path) if entries is None else entries
    if not isinstance(entries, list):
        raise DataError(f"{path}: a findings file is a list of comparisons")
    for k, entry in enumerate(entries):
        where = f"{path}: entry {k + 1}"
        if isinstance(entry, dict) and "report" in entry:
            if any(key not in entry for key in REPORT_REQUIRED):
                raise DataError(f"{where}: a report entry needs the keys {', '.join(REPORT_REQUIRED)}")
            continue
        if not isinstance(entry, dict) or any(key not in entry for key in REQUIRED):
            raise DataError(f"{where}: needs the keys {', '.join(REQUIRED)}")
        if ("b" in entry) == ("baseline" in entry):
            raise DataError(f"{where} ({entry['name']}): give either b (a setting) or baseline (a name)")
        if not isinstance(entry["margin"], int | float) or entry["margin"] <= 0:
            raise DataError(f"{where} ({entry['name']}): margin must be a positive number")
    return entries


def matching_group(study: dict, setting: dict, where: str) -> dict:
    """The one group whose key holds every key=value of ``setting``."""
    wanted = {str(k): str(v) for k, v in setting.items()}
    found = [g for g in study["groups"] if all(g["key"].get(k) == v for k, v in wanted.items())]
    if len(found) != 1:
        keys = [g["key"] for g in study["groups"]]
        raise DataError(f"{where}: {wanted} matches {len(found)} groups of the study (its groups: {keys})")
    return found[0]


def by_seed(group: dict, metric: str, where: str) -> dict[str, float]:
    values = (group["metrics"].get(metric) or {}).get("by_seed")
    if not values:
        raise DataError(f"{where}: the study has no per-seed {metric} for {group['key']} "
                        f"(write it again with this version of attn-study)")
    return values


def verdict(ci95: list[float] | None, margin: float, seeds: int) -> str:
    """Words for a paired difference's interval: above / below (it excludes 0), level within ±margin
    (it lies inside the margin), inconclusive (neither); fewer than 10 seeds is said."""
    if ci95 is None:
        return "no interval (one seed)"
    low, high = ci95
    inside = -margin <= low and high <= margin
    if low > 0:
        word = f"above, by less than {margin:g}" if inside else "above"
    elif high < 0:
        word = f"below, by less than {margin:g}" if inside else "below"
    elif inside:
        word = f"level within ±{margin:g}"
    else:
        word = f"inconclusive (includes 0, reaches past ±{margin:g})"
    return word if seeds >= HEADLINE_SEEDS else f"{word}; {seeds} seeds, not a headline"


def compare(entry: dict, study: dict, where: str) -> dict:
    """One comparison: both sides' means and the paired difference with its interval and verdict."""
    group_a = matching_group(study, entry["a"], f"{where} a")
    a = by_seed(group_a, entry["metric"], where)
    if isinstance(entry.get("baseline"), int | float):  # a constant: e.g. 0 for a difference already
        b = {seed: float(entry["baseline"]) for seed in a}
        b_label = f"{entry['baseline']:g}"
    elif isinstance(entry.get("baseline"), list):  # the strongest of several baselines of the same score
        b, b_label = strongest(group_a, entry["baseline"], bool(entry.get("lower_is_better")), where)
    elif "baseline" in entry:
        b = by_seed(group_a, entry["baseline"], where)
        b_label = entry["baseline"]
    else:
        b = by_seed(matching_group(study, entry["b"], f"{where} b"), entry["metric"], where)
        b_label = setting_text(entry["b"])
    seeds = sorted(set(a) & set(b), key=natural_seed)
    if not seeds:
        raise DataError(f"{where}: a and b share no seed")
    diff = mean_ci([a[s] - b[s] for s in seeds])
    interval = "seeds"
    boot = bootstrap_half_width(group_a, entry.get("bootstrap"), seeds)
    if boot is not None and (diff["ci95"] is None or (diff["ci95"][1] - diff["ci95"][0]) / 2 < boot):
        diff = {**diff, "ci95": [diff["mean"] - boot, diff["mean"] + boot]}
        interval = "sentence bootstrap"  # wider than the seeds': the test sample's own variance
    a_label = entry.get("label") or setting_text(entry["a"])
    return {"name": entry["name"], "metric": entry["metric"], "a": a_label, "b": b_label,
            "a_mean": mean_ci([a[s] for s in seeds]), "b_mean": mean_ci([b[s] for s in seeds]),
            "difference": diff, "seeds": seeds, "margin": entry["margin"], "interval": interval,
            "test_sample": bootstrap_half_width(group_a, entry["metric"], seeds),
            "verdict": verdict(diff["ci95"], entry["margin"], len(seeds))}


def strongest(group: dict, names: list[str], lower_is_better: bool,
              where: str) -> tuple[dict[str, float], str]:
    """Per seed, the best of several baselines scored the same way (e.g. the plain and the
    class-balanced bigram's balanced accuracy): each verdict against the strongest of them."""
    values = {name: by_seed(group, name, where) for name in names}
    pick = min if lower_is_better else max
    means = {name: sum(v.values()) / len(v) for name, v in values.items()}
    best = pick(means, key=lambda name: means[name])
    return values[best], f"{best} (strongest of {len(names)})"


def bootstrap_half_width(group: dict, metric: str | None, seeds: list[str]) -> float | None:
    """The mean over ``seeds`` of the runs' sentence-bootstrap half-widths of ``metric`` (the paired
    interval of the difference the entry tests, e.g. ``alignment_margin`` for alignment − offset);
    None when the entry names none or the study has none (runs written before they were kept)."""
    if metric is None:
        return None
    values = (group["metrics"].get(f"{metric}/bootstrap_half_width") or {}).get("by_seed") or {}
    found = [values[s] for s in seeds if s in values]
    return sum(found) / len(found) if found else None


def natural_seed(seed: str) -> tuple:
    return (0, int(seed), "") if seed.lstrip("-").isdigit() else (1, 0, seed)


def setting_text(setting: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in setting.items()) or "all runs"


def run_findings(path: Path, entries: object = None) -> list[dict]:
    """Every comparison of the findings file (``entries``: already parsed), computed from its studies."""
    results, studies = [], {}
    for k, entry in enumerate(load_findings(path, entries)):
        if "report" in entry:
            results.append(report_value(entry, path.parent / entry["report"], f"{path}: entry {k + 1}"))
            continue
        study_path = (path.parent / entry["study"]).resolve()
        if study_path not in studies:
            try:
                studies[study_path] = json.loads(study_path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as err:
                raise DataError(f"{path}: entry {k + 1}: cannot read {study_path} ({err})") from None
        results.append(compare(entry, studies[study_path], f"{path}: entry {k + 1} ({entry['name']})"))
    return results


def report_value(entry: dict, path: Path, where: str) -> dict:
    """One model's number from its report (``value``: a dotted key, e.g.
    ``entropy_by_class.function_minus_content``) with its bootstrap interval over test sentences,
    worded like a paired difference."""
    try:
        node = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise DataError(f"{where}: cannot read {path} ({err})") from None
    *parents, key = entry["value"].split(".")
    for part in parents:
        node = node.get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or node.get(key) is None:
        raise DataError(f"{where}: {path} has no {entry['value']}")
    summary = {"mean": node[key], "ci95": node.get(f"{key}_ci95")}
    return {"name": entry["name"], "metric": entry["value"], "a": entry.get("label", path.parent.name),
            "b": "0", "a_mean": summary, "b_mean": {"mean": 0.0, "ci95": None}, "difference": summary,
            "seeds": ["one model; bootstrap over test sentences"], "margin": entry["margin"],
            "verdict": verdict(summary["ci95"], entry["margin"], HEADLINE_SEEDS)}


def plus_minus(summary: dict, digits: int = 3, signed: bool = False) -> str:
    """``0.717 ± 0.002`` (the report schema's formatter); the value alone for one run or a baseline
    fitted once (equal in every seed); ``signed``: a difference, ``+0.047 ± 0.004``."""
    value = estimate(summary)
    if value.ci95 is not None and value.ci95[1] - value.ci95[0] < 1e-6:
        value = Estimate(value.value)
    text = value.format(digits, style="plus_minus")
    return text if not signed or text.startswith("-") else f"+{text}"


def findings_markdown(results: list[dict]) -> str:
    """The table of a findings file: each comparison's sides, paired difference and verdict."""
    lines = ["| comparison | metric | a | b | a − b, paired (seeds: t-interval over them, unless said) "
             "| verdict |",
             "|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | `{r['metric']}` | `{r['a']}` {plus_minus(r['a_mean'])} | "
                     f"`{r['b']}` {plus_minus(r['b_mean'])} | "
                     f"{plus_minus(r['difference'], signed=True)} ({interval_text(r)}) | "
                     f"{r['verdict']} |")
    return "\n".join(lines) + "\n"


def interval_text(result: dict) -> str:
    """Which interval a difference carries: over seeds (Student's t), or the paired sentence
    bootstrap where that is wider; and, beside, a's own test-sample interval where the runs kept it."""
    count = seed_count(result["seeds"])
    if not count.isdigit():
        return count
    text = f"{count}; sentence bootstrap" if result.get("interval") == "sentence bootstrap" else count
    sample = result.get("test_sample")
    return text if sample is None else f"{text}; one test set's bootstrap ±{sample:.3f}"


def seed_count(seeds: list[str]) -> str:
    return str(len(seeds)) if not seeds or seeds[0].isdigit() else seeds[0]


def block_pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- findings:{re.escape(name)} -->\n)(.*?)(<!-- /findings:{re.escape(name)} -->)",
                      re.DOTALL)


def blocks_in(page: str) -> list[str]:
    """The names of the findings blocks a page holds."""
    return re.findall(r"<!-- findings:([\w.-]+) -->", page)


def fill_blocks(page: str, tables: dict[str, str], where: str) -> str:
    """The page with each findings block's content replaced by its generated table."""
    for name in blocks_in(page):
        if name not in tables:
            raise DataError(f"{where}: block findings:{name} has no findings file {name}.yaml")
        page = block_pattern(name).sub(filled(tables[name]), page)
    return page


def filled(table: str) -> Callable[[re.Match], str]:
    """A ``re.sub`` replacement keeping a block's markers around ``table``."""
    return lambda match: match.group(1) + table + match.group(3)


def table_of(path: Path) -> str:
    """A findings file's table: a list of paired comparisons, or (a mapping with ``relations``) the
    per-relation table of trained settings beside a pretrained model."""
    spec = read_findings_file(path)
    if isinstance(spec, dict) and "relations" in spec:
        return relations_markdown(spec, path.parent)
    return findings_markdown(run_findings(path, spec))


def generated_pages(findings_dir: Path, pages: list[Path]) -> dict[Path, str]:
    """Each findings file's table written to <name>.md beside it, and each page with its blocks
    filled: path → the text it should have."""
    tables = {path.stem: table_of(path) for path in sorted(findings_dir.glob("*.yaml"))}
    out = {findings_dir / f"{name}.md": table for name, table in tables.items()}
    for page in pages:
        out[page] = fill_blocks(page.read_text(encoding="utf-8"), tables, str(page))
    return out


# ── per relation, trained models beside a pretrained one ────────────────────────────────────
def read_verdicts(path: Path, setting: str, direction: str = "to_head") -> dict[str, list[dict]]:
    """relation → one row per seed of a study's verdicts.csv, for one setting and direction."""
    import csv

    try:
        with path.open(encoding="utf-8") as handle:
            rows = [r for r in csv.DictReader(handle)
                    if r["setting"] == setting and r["direction"] == direction]
    except (OSError, KeyError) as err:
        raise DataError(f"{path}: cannot read the verdicts ({err})") from None
    if not rows:
        raise DataError(f"{path}: no verdicts of setting {setting!r}")
    out: dict[str, list[dict]] = {}
    for row in rows:
        out.setdefault(row["relation"], []).append(row)
    return out


def number_or_none(text: str) -> float | None:
    return None if text in ("", "None") else float(text)


def trained_cell(rows: list[dict] | None) -> str:
    """The best head's alignment, mean ± t-interval over seeds, beside the best offset chosen and scored
    on that setting's own rows (mean over seeds), and in how many seeds it beats position. A
    verdicts.csv from before the verdicts were split (no ``changed_by_training`` column) tested "beats
    the offset and the untrained model" at once: its count is marked, a lower bound of today's."""
    if not rows:
        return "–"
    values = [number_or_none(r["best_head_after"]) for r in rows]
    offsets = [number_or_none(r["best_offset"]) for r in rows]
    beats = sum(r["beats_position"] == "True" for r in rows)
    tested = sum(r["beats_position"] in ("True", "False") for r in rows)
    old = "changed_by_training" not in rows[0]
    offset = mean_ci(offsets)["mean"]
    own = "" if offset is None else f" vs {offset:.3f}"
    return f"{plus_minus(mean_ci(values))}{own} ({beats}/{tested} beat{', old test' if old else ''})"


def relations_markdown(spec: dict, base: Path) -> str:
    """Per relation (dependent → head): the best offset, each trained setting's best head over seeds,
    and the pretrained model's dev-chosen best head with its bootstrap interval and verdict."""
    report = json.loads((base / spec["pretrained"]).read_text(encoding="utf-8"))
    names = report["run"]["head_names"]
    trained = [(t["label"], read_verdicts(base / t["verdicts"], t["setting"])) for t in spec["trained"]]
    header = ["relation", "n", "best offset on every word's row (dev → test)",
              *[f"{label}: best head, mean ± CI over seeds, vs its own best offset (seeds beating position)"
                for label, _ in trained],
              f"{report['run']['model']}: best head (dev) on test [95% CI], verdict (weights beside)"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for rel in spec["relations"]:
        entry = report["per_relation"].get(rel)
        if entry is None:
            raise DataError(f"{base / spec['pretrained']}: no relation {rel!r}")
        verdict = {True: "beats position", False: "does not beat position", None: "untested"}[
            entry["beats_position"]]
        ci = entry.get("best_head_after_ci95") or [None, None]
        value = f"{names[entry['best_head']]} {entry['best_head_after']:.3f}"
        lm = f"{value} [{ci[0]:.3f}, {ci[1]:.3f}], {verdict}" if ci[0] is not None else f"{value}, {verdict}"
        if entry.get("best_head_weight") is not None and entry.get("best_head_offset_weight") is not None:
            lm += (f"; weight on the head {entry['best_head_weight']:.3f}, on the offset's word "
                   f"{entry['best_head_offset_weight']:.3f}")
        cells = [f"`{rel}`", str(entry["n"]), f"{entry['best_offset_name']}: {entry['best_offset']:.3f}",
                 *[trained_cell(verdicts.get(rel)) for _, verdicts in trained], lm]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
