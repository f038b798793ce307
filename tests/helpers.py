"""Helpers shared by test modules in several folders: running a command in this process, a
folder's digest, and a run folder as train.py leaves it."""

import hashlib
import json
import logging
import runpy
import subprocess
import sys
from pathlib import Path

import torch
import yaml
from conftest import MINI_UD, ROOT
from hydra.core.global_hydra import GlobalHydra
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from attn_project.analysis.report_schema import (
    AttentionBlock,
    AttentionSummary,
    Classification,
    Estimate,
    RelationEntry,
    Report,
)


def digest(folder: Path) -> dict:
    return {p: hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def logging_state() -> list:
    """The root and Lightning loggers' handlers and propagation, which a Hydra app reconfigures."""
    loggers = [logging.getLogger(name) for name in ("", "lightning", "lightning.pytorch", "lightning.fabric")]
    return [(logger, list(logger.handlers), logger.propagate) for logger in loggers]


def run_cli(script, args, capsys):
    """Run scripts/<script>.py in this process, as the command line would; → (exit code, output).
    Logging is put back afterwards: a command's handlers write to streams that end with it."""
    GlobalHydra.instance().clear()
    argv, saved = sys.argv, logging_state()
    sys.argv = [str(ROOT / "scripts" / f"{script}.py"), *args]
    code = 0
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
    except SystemExit as exit_:
        code = exit_.code
    finally:
        sys.argv = argv
        GlobalHydra.instance().clear()
        for logger, handlers, propagate in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def train_and_score(model, train, test, steps: int, lr: float) -> float:
    """A short plain training loop over random batches of a planted split (all masks at once, the
    gold heads passed for the oracles); → accuracy on ``test``."""
    import torch.nn.functional as F

    from attn_project.analysis.interventions import predictions
    from attn_project.data.batches import SentenceBatches
    from attn_project.data.labels import IGNORE

    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    for _ in range(steps):
        batch = SentenceBatches(train)[torch.randint(0, len(train), (64,)).tolist()]
        logits, _ = model.forward_all_masks(batch["ids"], heads=batch["heads"])  # [B, T, C]
        loss = F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    _, predicted, label = predictions(model, test, None)
    return float((predicted == label).mean())


def fake_run(folder, overrides, seed, acc, alignment=0.40, report=True, finished=True, log=""):
    """A run folder as train.py leaves it: .hydra/, metrics.json, report/attention_report.json."""
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(yaml.safe_dump({"seed": seed, "model": {"d_model": 64}}))
    (folder / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([*overrides, f"seed={seed}",
                                                                      f"paths.log_dir={folder}"]))
    if log:
        (folder / "train.log").write_text(log)
    if finished:
        (folder / "metrics.json").write_text(json.dumps({"test/acc": acc}))
    if report:
        (folder / "report").mkdir()
        (folder / "report" / "attention_report.json").write_text(
            json.dumps(fake_report(acc, alignment, beats=seed == 1).to_json()))


def fake_report(acc: float, alignment: float, beats: bool) -> Report:
    """A small report (the study reads accuracy, baselines, attention and one relation)."""
    none = Estimate(None)
    relation = RelationEntry(n=300, after=Estimate(alignment + 0.1), before=0.1, best_offset=0.9,
                             beats_position=beats)
    after = AttentionSummary(Estimate(0.8), Estimate(alignment), Estimate(0.5), none)
    weights = AttentionBlock(after=after, alignment_margin=Estimate(alignment - 0.42), best_offset_name="+1",
                             best_offset=Estimate(0.42), per_relation={"det": relation})
    baselines = {"majority": {"acc": 0.52}, "bag_of_neighbours": {"acc": 0.79}, "bigram": {"acc": 0.91}}
    test = Classification(Estimate(acc), none, none, f1=Estimate(acc - 0.01))
    before = AttentionSummary(Estimate(0.99), Estimate(0.2), Estimate(0.3), none)
    return Report(run={}, analysis=None, test=test, baselines=baselines, before=before, entropy_change=none,
                  weights=weights)


# ── training runs, shared by the train, config, eval and sweep tests ──
TINY = ["trainer.max_epochs=1", "++trainer.limit_train_batches=4", "++trainer.limit_val_batches=2",
        "++trainer.limit_test_batches=2", "callbacks.progress_bar=null"]


# the classifier's experiments; the language models' (lm_*) compose another data, model and callbacks
ALL_EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("*.yaml")
                         if not p.stem.startswith("lm_"))
LM_EXPERIMENTS = sorted(p.stem for p in (ROOT / "conf" / "experiment").glob("lm_*.yaml"))


def experiment_overrides(name):
    return [f"experiment={name}"] + ([f"data.root={MINI_UD}"] if name.startswith("ud_") else [])


def read_events(folder):
    events = EventAccumulator(str(folder), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


def run_script(*args, timeout=600):
    return subprocess.run([sys.executable, "scripts/train.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def tiny_bert(folder, **config_changes):
    """A random BERT-family model written like a Hugging Face folder: config.json, model.safetensors,
    tokenizer.json (a WordPiece vocabulary over the mini treebank's words)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    words = [line.split("\t")[1] for f in MINI_UD.glob("*.conllu") for line in f.read_text().splitlines()
             if line and not line.startswith("#")]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    trainer = trainers.WordPieceTrainer(vocab_size=60, special_tokens=specials)
    tokenizer.train_from_iterator([" ".join(words)] * 3, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tokenizer.token_to_id("[CLS]")),
                                               ("[SEP]", tokenizer.token_to_id("[SEP]"))])
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(folder / "tokenizer.json"))
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=16, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=32, max_position_embeddings=64)
    BertModel(config).save_pretrained(folder, safe_serialization=True)
    if config_changes:
        path = folder / "config.json"
        path.write_text(json.dumps(json.loads(path.read_text()) | config_changes))
    return folder
