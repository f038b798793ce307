"""The word task: its classes and labels, the language-model baselines by hand, and a planted
successor corpus on which the bigram language model scores 1.0 and a one-layer model learns it."""

import json
import math
import random

import numpy as np
import pytest
from helpers import run_cli

from attn_project.analysis.lm_baselines import WittenBell, language_model_baselines, unigram
from attn_project.data.conllu import Sentence
from attn_project.data.labels import IGNORE
from attn_project.data.tasks import Task


def sentence(words, tags):
    rest = len(words) - 1
    return Sentence(list(words), list(tags), [-1] + [0] * rest, ["root"] + ["dep"] * rest)


def test_word_classes_are_the_vocabularys_target_words_and_unknown_targets_are_not_targets():
    train = [sentence(["The", "cat", "sat", "."], ["DET", "NOUN", "VERB", "PUNCT"]),
             sentence(["the", "dog", "sat"], ["DET", "NOUN", "VERB"])]
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, "the": 3, "sat": 4, ".": 5, "cat": 6}  # no "dog"
    task = Task(name="word")
    task.fit(train, vocabulary)
    assert task.classes == ["the", "sat", "cat"]  # the tokenizer's id order; "." is punctuation
    assert task.labels(train[0]) == [0, 2, 1, IGNORE]  # "The" lowercased as the tokenizer does
    assert task.labels(train[1]) == [0, IGNORE, 1]  # "dog" is [UNK]: not a target


def test_witten_bell_against_a_hand_computation():
    words = np.array([0, 0, 1, 2])
    contexts = ["a", "a", "a", "b"]
    base = unigram(words, 3)  # add-one: (2+1, 1+1, 1+1) / 7
    np.testing.assert_allclose(base, [3 / 7, 2 / 7, 2 / 7])
    model = WittenBell(contexts, words, 3)
    # context "a": n = 3 tokens, T = 2 distinct → counts / 5, and 2/5 of the unigram
    np.testing.assert_allclose(model.distribution("a", base), [2 / 5 + 2 / 5 * 3 / 7, 1 / 5 + 2 / 5 * 2 / 7,
                                                               2 / 5 * 2 / 7])
    np.testing.assert_allclose(model.distribution("unseen", base), base)
    scores = language_model_baselines(np.array([5, 5, 6]), np.array([7, 7, 8]), np.array([0, 0, 1]),
                                      np.array([5, 9]), np.array([7, 7]), np.array([0, 1]), 3)
    assert scores["bigram"]["acc"] == 0.5 and scores["unigram"]["acc"] == 0.5  # the unseen context backs off
    assert scores["bigram"]["perplexity"] < scores["unigram"]["perplexity"]
    assert all(s["top5_acc"] == 1.0 for s in scores.values())  # three classes: all within five


def successor_treebank(folder, types: int = 12, seed: int = 0):
    """Every word's successor is fixed (w3 → w4 → … → w0 → w1 …): the left word names the hidden one."""
    rng = random.Random(seed)
    folder.mkdir()
    for split, count in (("train", 600), ("dev", 100), ("test", 100)):
        blocks = []
        for _ in range(count):
            start, length = rng.randrange(types), rng.randrange(5, 10)
            lines = [f"{i + 1}\tw{(start + i) % types}\t_\tNOUN\t_\t_\t{0 if i == 0 else i}\t"
                     f"{'root' if i == 0 else 'dep'}\t_\t_" for i in range(length)]
            blocks.append("\n".join(lines))
        (folder / f"succ-ud-{split}.conllu").write_text("\n\n".join(blocks) + "\n\n")
    return folder


@pytest.mark.slow
def test_a_successor_corpus_the_bigram_scores_one_and_one_layer_learns_it(tmp_path, capsys):
    treebank = successor_treebank(tmp_path / "succ")
    run = tmp_path / "run"
    args = ["experiment=ud_single_head", f"data.root={treebank}", "task=word", "data.min_frequency=1",
            "trainer.max_epochs=8", "data.min_epoch_sentences=2000", f"hydra.run.dir={run}",
            f"paths.data_dir={tmp_path / 'data'}",
            "callbacks.progress_bar=null", "callbacks.early_stopping=null"]
    code, output = run_cli("train", args, capsys)
    assert code == 0, output
    baselines = json.loads((run / "report" / "attention_report.json").read_text())["baselines"]
    assert baselines["bigram"]["acc"] == 1.0  # both neighbours: the first word is named by its right one
    assert 0.8 < baselines["left_bigram"]["acc"] < 1.0  # the left word alone misses sentence starts
    assert baselines["unigram"]["acc"] < 0.2 and baselines["bigram"]["perplexity"] < 1.1
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test/acc"] > 0.95, metrics  # one layer finds the left neighbour
    assert metrics["test/top5_acc"] >= metrics["test/acc"]
    assert 1.0 <= metrics["test/perplexity"] < 1.5
    assert math.isclose(metrics["test/perplexity"], math.exp(metrics["test/loss"]), rel_tol=1e-3)
    [checkpoint] = (run / "checkpoints").glob("last.ckpt")
    code, output = run_cli("inspect_attention", [f"ckpt_path={checkpoint}", "text=w3 w4 w5 w6",
                                                 f"hydra.run.dir={tmp_path / 'inspect'}"], capsys)
    assert code == 0, output
    line = next(line for line in output.splitlines() if line.strip().startswith("w5"))
    assert line.split("→")[1].split(",")[0].split()[0] == "w5" and line.count(",") == 4  # top-5, w5 first
