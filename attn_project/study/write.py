"""A study written out: study.json, study.csv, study.md, verdicts.csv (every run's per-relation
verdicts), the figures, and all of it in TensorBoard."""

from __future__ import annotations

import json
from pathlib import Path

from attn_project.study import figures as study_figures
from attn_project.study import lm_runs
from attn_project.study.aggregate import LANGUAGE_MODEL, RUN_VERDICTS
from attn_project.study.lm_figures import lm_figures
from attn_project.study.lm_table import lm_study_markdown
from attn_project.study.table import VERDICT_COLUMNS, study_markdown, write_csv, write_verdicts_csv
from attn_project.viz import plots


def write_study(study: dict, out: Path) -> dict[str, Path]:
    """study.json, study.csv, study.md, the figures as PNGs, and all of it in TensorBoard."""
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "study.json", "csv": out / "study.csv", "md": out / "study.md",
             "verdicts": out / "verdicts.csv"}
    verdicts = study.get(RUN_VERDICTS, [])
    study = {k: v for k, v in study.items() if k != RUN_VERDICTS}
    paths["json"].write_text(json.dumps(study, indent=1), encoding="utf-8")
    language_model = study.get("kind") == LANGUAGE_MODEL
    write_csv(study, paths["csv"])
    columns = lm_runs.VERDICT_COLUMNS if language_model else VERDICT_COLUMNS
    write_verdicts_csv(verdicts, paths["verdicts"], columns)
    paths["md"].write_text(markdown_of(study), encoding="utf-8")
    figures = lm_figures(study) if language_model else study_figures.figures(study)
    for name, fig in figures.items():
        paths[name] = plots.save(fig, out / f"{name}.png")
    study_figures.to_tensorboard(out / "tensorboard", paths["md"].read_text(encoding="utf-8"), figures)
    return paths


def markdown_of(study: dict) -> str:
    """The study's table: a language-model study's or a classifier study's."""
    return lm_study_markdown(study) if study.get("kind") == LANGUAGE_MODEL else study_markdown(study)
