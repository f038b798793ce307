"""The command-line entry points: ``attn-train``, ``attn-eval``, … after ``pip install``, and the
same functions behind ``scripts/*.py`` in a checkout. Each parses its arguments and calls the
library; nothing else happens here."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import cast

import hydra
from omegaconf import DictConfig

from attn_project.commands.resolvers import register_resolvers
from attn_project.errors import PLAIN_APP, ConfigError, UserError, exit_on_user_error
from attn_project.run import run_names
from attn_project.run.configs import CONFIGS
from attn_project.run.override_keys import exit_on_unknown_key

# The apps' config resolvers, registered by the apps' module: Hydra's joblib workers import this
# module to run a job, and resolve the job's folder there.
register_resolvers()

def figure_formats(cfg: DictConfig) -> None:
    """``viz.format``: the formats every figure of this command is written in besides PNG."""
    from attn_project.viz.plots import set_figure_formats

    set_figure_formats(str(cfg.get("viz", {}).get("format", "png")))


# ── Hydra apps ──────────────────────────────────────────────────────────────────────────────
@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="train")
def _train(cfg: DictConfig) -> float | None:
    from attn_project.commands.train import in_sweep, job_description
    from attn_project.commands.train import train as train_run

    with exit_on_user_error(in_sweep=in_sweep(), job=job_description()):
        figure_formats(cfg)
        value, _ = train_run(cfg)
    return value


def train() -> None:
    """attn-train experiment=single_head [overrides]   (Hydra; -m for sweeps)"""
    exit_on_unknown_key("train")
    run_names.remember_sweep(sys.argv[1:])
    _train()


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="eval")
def _evaluate(cfg: DictConfig) -> None:
    from attn_project.commands.evaluate import evaluate as evaluate_run

    with exit_on_user_error():
        figure_formats(cfg)
        evaluate_run(cfg)


def evaluate() -> None:
    """attn-eval ckpt_path=RUN/checkpoints/last.ckpt [data=… | experiment=NAME]"""
    exit_on_unknown_key("eval")
    _evaluate()


def inspect() -> None:
    """attn-inspect ckpt_path=RUN/checkpoints/last.ckpt text="The old man the boats ." [file=…] [out=…]
    (``--text "It's late, isn't it ?"`` for a sentence with commas or quotes)"""
    from attn_project.run.text_argument import with_text_override

    sys.argv[1:] = with_text_override(sys.argv[1:])
    exit_on_unknown_key("inspect")
    _inspect()


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="inspect")
def _inspect(cfg: DictConfig) -> None:
    from attn_project.commands.inspect import inspect_sentences
    from attn_project.run.threads import set_threads

    with exit_on_user_error():
        set_threads(cfg.get("threads", "auto"))
        figure_formats(cfg)
        if cfg.get("pretrained"):
            from attn_project.pretrained.inspect import inspect_pretrained

            inspect_pretrained(cfg.pretrained.path, cfg.text, cfg.file, cfg.out,
                               float(cfg.pretrained.max_memory_gb), layers_drawn=plain_list(cfg.layers),
                               heads_drawn=plain_list(cfg.heads), figures=str(cfg.figures))
        else:
            refuse_pretrained_only_keys(cfg)
            inspect_sentences(cfg.ckpt_path, cfg.text, cfg.file, cfg.out, str(cfg.figures))


def plain_list(value: object) -> list | None:
    """A config list as a plain one (None stays None; one value becomes a list of it)."""
    from omegaconf import ListConfig, OmegaConf

    if value is None:
        return None
    return list(cast(list, OmegaConf.to_container(value))) if isinstance(value, ListConfig) else [value]


def refuse_pretrained_only_keys(cfg: DictConfig) -> None:
    """layers= / heads= choose a pretrained encoder's drawn heads: a trained run draws all."""
    given = [key for key in ("layers", "heads") if cfg.get(key)]
    if given:
        raise ConfigError(f"{given[0]}=…: choosing the drawn heads is for pretrained=… (a pretrained "
                          f"encoder); a trained run's inspect draws its every head")


def pretrained() -> None:
    """attn-pretrained data.root=PATH/TO/TREEBANK [pretrained.path=HF_FOLDER] [pretrained.device=cuda]"""
    exit_on_unknown_key("pretrained_lens")
    _pretrained()


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="pretrained_lens")
def _pretrained(cfg: DictConfig) -> None:
    from attn_project.commands.pretrained import run_lens
    from attn_project.run.threads import set_threads

    with exit_on_user_error():
        set_threads(cfg.get("threads", "auto"))
        figure_formats(cfg)
        run_lens(cfg)


def lens_over_training() -> None:
    """attn-lens-over-training run_dir=LM_RUN data.root=PATH/TO/TREEBANK [minilm_report=REPORT.json]"""
    exit_on_unknown_key("lens_over_training")
    _lens_over_training()


@hydra.main(version_base="1.3", config_path=CONFIGS, config_name="lens_over_training")
def _lens_over_training(cfg: DictConfig) -> None:
    from attn_project.commands.lens_over_training import run_lens_over_training
    from attn_project.run.threads import set_threads

    with exit_on_user_error():
        set_threads(cfg.get("threads", "auto"))
        figure_formats(cfg)
        run_lens_over_training(cfg)


# ── argparse tools ──────────────────────────────────────────────────────────────────────────
def parser_for(description: str) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(description=description,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be a positive integer")
    return value


EXPLAIN = """The bottom-up guide with random weights, ten steps, a narration and a PNG each.

example: attn-explain --out explain_out          (or: python scripts/explain.py --out explain_out)
         attn-explain --d-model 16 --heads 2 --sentence "dogs bark ." --out tiny
"""


FORMAT_HELP = "figures besides PNG: svg, pdf or svg,pdf (fonts embedded); png alone by default"


def argparse_figure_formats(value: str) -> None:
    """``--format``: as viz.format, a bad value one error line."""
    from attn_project.viz.plots import set_figure_formats

    with exit_on_user_error(full_error_env=PLAIN_APP):
        set_figure_formats(value)


def explain() -> None:
    from attn_project.commands.guide import EXAMPLES, run_guide

    parser = parser_for(EXPLAIN)
    parser.add_argument("--out", default="explain_out", help="folder for the PNG figures")
    parser.add_argument("--d-model", type=int, default=64, help="embedding and head width (64: the model's)")
    parser.add_argument("--heads", type=int, default=4, help="heads in step 7")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sentence", action="append", help="a sentence to use (repeat for more); the "
                        "first is drawn. Default: three example sentences")
    parser.add_argument("--pieces", action="store_true", help="step 1 also shows each word's subword "
                        "pieces (data.tokenizer=pieces)")
    parser.add_argument("--format", default="png", help=FORMAT_HELP)
    args = parser.parse_args()
    argparse_figure_formats(args.format)
    written = run_guide(args.out, args.sentence or EXAMPLES, d_model=args.d_model, num_heads=args.heads,
                        seed=args.seed, pieces=args.pieces)
    print(f"\n{len(written)} figures in {args.out}:")
    for path in written:
        print(f"  {path}")


STUDY = """Compare runs: mean and 95% CI over seeds per setting, as a table, a CSV, JSON, figures and
TensorBoard.

example: attn-train -m experiment=single_head,multi_head seed=1,2,3
         attn-study logs/multiruns/single_head+multi_head/<date_time>
         attn-study logs/multiruns/a logs/multiruns/b --out docs/study --group-by experiment
         attn-study --findings docs/findings --pages README.md docs/results.md   # paired tables → pages
         attn-study --findings docs/findings --pages README.md docs/results.md --check
"""


def study() -> None:
    from attn_project.study.aggregate import run_study
    from attn_project.study.table import few_seeds_warnings
    from attn_project.study.write import markdown_of, write_study

    parser = parser_for(STUDY)
    parser.add_argument("folders", nargs="*", type=Path, help="run or sweep folders (searched recursively)")
    parser.add_argument("--out", type=Path, help="where to write (default: FIRST_FOLDER/study)")
    parser.add_argument("--group-by", nargs="+", metavar="KEY",
                        help="config keys to group by (default: every override but seed)")
    parser.add_argument("--findings", type=Path, metavar="DIR",
                        help="a folder of findings files (*.yaml): write each one's paired table (NAME.md) "
                             "and fill the <!-- findings:NAME --> blocks of --pages")
    parser.add_argument("--pages", nargs="*", type=Path, default=[],
                        help="Markdown pages with findings blocks")
    parser.add_argument("--check", action="store_true",
                        help="with --findings: write nothing; exit 1 if a page differs from what is "
                             "generated")
    parser.add_argument("--format", default="png", help=FORMAT_HELP)
    args = parser.parse_args()
    argparse_figure_formats(args.format)
    if args.findings is not None:
        with exit_on_user_error(full_error_env=PLAIN_APP):
            sys.exit(write_findings(args.findings, args.pages, args.check))
    if not args.folders:
        parser.error("give run or sweep folders (or --findings DIR)")
    with exit_on_user_error(full_error_env=PLAIN_APP):
        result = run_study(args.folders, args.group_by)
        paths = write_study(result, args.out or args.folders[0] / "study")
    print(markdown_of(result))
    for warning in few_seeds_warnings(result):
        print(f"warning: {warning}", file=sys.stderr)
    for path in paths.values():
        print(f"wrote {path}")


def write_findings(findings_dir: Path, pages: list[Path], check: bool) -> int:
    """Generate the findings tables and pages; with ``check``, only compare (1: something differs)."""
    from attn_project.study.findings import generated_pages

    stale = []
    for path, text in generated_pages(findings_dir, pages).items():
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            continue
        stale.append(path)
        if not check:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if check and stale:
        print("differs from the studies: " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


BENCH = """Benchmark training speed; prints one JSON object on stdout and a readable table on stderr.

example: attn-bench
         attn-bench --data-root ../shared/data/ud_english_ewt --device cuda --reps 3
         attn-bench --study --experiments single_head,multi_head --seeds 1,2,3
See attn_project/commands/bench.py (and study_bench.py for --study) for what each key measures."""


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's INFO lines and all warnings off for the benchmark's many fits; both restored
    afterwards, so an in-process caller keeps its own logging."""
    loggers = [logging.getLogger(name) for name in ("lightning", "lightning.pytorch")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def bench() -> None:
    parser = parser_for(BENCH)
    parser.add_argument("--data-root", help="a UD treebank folder (default: the generated corpus)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--reps", type=positive_int, default=5, help="A/B repetitions after the warm-up")
    parser.add_argument("--train-sentences", type=positive_int, help="use only the first N train sentences")
    parser.add_argument("--batch-size", type=positive_int,
                        help="sentences per batch (default: data.batch_size)")
    parser.add_argument("--threads", default="auto", type=threads_arg, help="torch threads (default: auto)")
    parser.add_argument("--depth", action="store_true",
                        help="one training epoch: one layer vs two (exact, random masks); needs --data-root")
    lm = parser.add_argument_group("--lm: the language model's speed (attn_project/commands/lm_bench.py)")
    lm.add_argument("--lm", action="store_true", help="tokens/s, Lightning vs plain, ours vs HF GPT-2, MFU")
    lm.add_argument("--lm-size", default="lm_small", help="a conf/model/lm_* size (default: lm_small)")
    lm.add_argument("--lm-steps", type=positive_int, default=20, help="training steps per measurement")
    study = parser.add_argument_group("--study: a small study, sequential and parallel launchers")
    study.add_argument("--study", action="store_true", help="run experiments × seeds per launcher")
    study.add_argument("--experiments", default="single_head,multi_head", help="comma-separated")
    study.add_argument("--seeds", default="1,2,3", help="comma-separated")
    study.add_argument("--launchers", default="basic,parallel", help="comma-separated: basic, parallel")
    study.add_argument("--out", type=Path, help="folder for the sweeps (default: a temporary folder)")
    study.add_argument("overrides", nargs="*", help="more overrides for every run, e.g. trainer.max_epochs=2 "
                       "(--lm: of the LM experiments, e.g. data.files=[…])")
    args = parser.parse_args()
    log = partial(print, file=sys.stderr)
    errors = exit_on_user_error(full_error_env=PLAIN_APP)
    # stdout holds the JSON object alone: what Lightning prints (its model summary) goes to stderr
    with errors, quiet_lightning(), contextlib.redirect_stdout(sys.stderr):
        if args.study:
            result = study_benchmark(args, log)
        elif args.lm:
            from attn_project.commands.lm_bench import lm_benchmark

            result = lm_benchmark(args.lm_size, args.lm_steps, args.reps, args.overrides, log=log)
        elif args.depth:
            from attn_project.commands.bench import depth_benchmark

            if not args.data_root:
                raise ConfigError("--depth measures EWT-sized epochs: give --data-root PATH/TO/TREEBANK")
            result = depth_benchmark(args.data_root, args.device, args.threads, args.train_sentences, log=log)
        else:
            from attn_project.commands.bench import run_benchmarks

            result = run_benchmarks(args.data_root, args.device, args.reps, args.train_sentences,
                                    log=log, batch_size=args.batch_size, threads=args.threads)
            width = max(map(len, result))
            for key, value in result.items():
                shown = f"{value:.4g}" if isinstance(value, float) else value
                log(f"{key:>{width}}  {shown}")
    print(json.dumps(result))  # after the redirect: the only line on stdout


def threads_arg(text: str) -> int | str:
    return text if text == "auto" else positive_int(text)


def study_benchmark(args: argparse.Namespace, log: Callable[[str], None]) -> dict:
    from attn_project.commands.study_bench import run_study_benchmark

    overrides = list(args.overrides) + ([f"data.root={args.data_root}"] if args.data_root else [])
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError as err:
        raise ConfigError(f"--seeds {args.seeds}: give integers separated by commas") from err
    return run_study_benchmark(args.experiments.split(","), seeds, overrides,
                               launchers=args.launchers.split(","), out=args.out, log=log)


FETCH_UD = """Fetch a Universal Dependencies treebank's train/dev/test CoNLL-U files into a folder.

example: attn-fetch-ud --treebank en_ewt --out data/ud/en_ewt
         attn-fetch-ud --treebank en_ewt --out data/ud/en_ewt --from DOWNLOADED_FOLDER
"""


def fetch_ud() -> None:
    from attn_project.data.ud import copy_treebank, download_treebank

    parser = parser_for(FETCH_UD)
    parser.add_argument("--treebank", default="en_ewt", help="file prefix, e.g. en_ewt")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the .conllu files to")
    parser.add_argument("--from", dest="source", type=Path, help="copy from this local folder instead")
    parser.add_argument("--tag", default="r2.14", help="UD release tag to download")
    parser.add_argument("--repo", help="repository name, e.g. UD_English-EWT (known treebanks: automatic)")
    args = parser.parse_args()
    try:
        if args.source:
            written = copy_treebank(args.treebank, args.source, args.out)
        else:
            written = download_treebank(args.treebank, args.out, args.tag, args.repo)
    except (OSError, ValueError) as err:
        print(f"fetch_ud: {err}", file=sys.stderr)
        sys.exit(1)
    for path in written:
        print(path)
    print(f"use it with: attn-train experiment=ud_single_head data.root={args.out}")


FETCH_TEXT = """Fetch a standard English corpus (WikiText-2 or WikiText-103, CC BY-SA 3.0) for the language
models: downloaded (or read from a zip you have), checked against its published MD5, written as
OUT/train.txt, dev.txt, test.txt (one sentence per line) and SOURCE.json.

example: attn-fetch-text --corpus wikitext-103 --out data/text/wikitext-103
         attn-fetch-text --corpus wikitext-2 --out data/text/wikitext-2 --from wikitext-2-raw-v1.zip
"""


def fetch_text() -> None:
    from attn_project.data.text_corpora import CORPORA, fetch_text_corpus

    parser = parser_for(FETCH_TEXT)
    parser.add_argument("--corpus", default="wikitext-103", help=f"one of {', '.join(sorted(CORPORA))}")
    parser.add_argument("--out", required=True, type=Path, help="a new folder for the three text files")
    parser.add_argument("--from", dest="source", type=Path, help="read this downloaded zip instead")
    parser.add_argument("--url", help="download from this mirror instead of the corpus's own site")
    parser.add_argument("--md5", help="the archive's MD5 where a mirror's differs from the published one")
    args = parser.parse_args()
    try:
        counts = fetch_text_corpus(args.corpus, args.out, args.source, args.url, args.md5)
    except (OSError, UserError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(1)
    print(", ".join(f"{split}.txt: {n} sentences" for split, n in counts.items()) + f" in {args.out}")
    files = {split: args.out / f"{split}.txt" for split in counts}
    print(f"use it with: attn-train experiment=lm_mlm data.files=[{files['train']}] "
          f"data.dev_files=[{files['dev']}] data.test_files=[{files['test']}]")
