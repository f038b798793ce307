"""Tasks beyond content/function: labels from hand-written CoNLL-U, the model's output size,
multiclass metrics against scikit-learn, multinomial baselines on a planted corpus, and every
task end to end."""

import dataclasses
import json

import numpy as np
import pytest
import torch
from conftest import MINI_UD, compose_cfg
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from attn_project.analysis.baselines import task_baselines
from attn_project.analysis.significance import Bootstrap, classification
from attn_project.data.batches import SplitTensors
from attn_project.data.conllu import read_conllu
from attn_project.data.labels import IGNORE
from attn_project.data.tasks import Task, universal
from attn_project.errors import ConfigError, DataError
from attn_project.training.module import MaskedTokenModule

CONLLU = """# text = Ali's dog sleeps in the garden .
1\tAli\t_\tPROPN\t_\t_\t3\tnmod:poss\t_\t_
2\t's\t_\tPART\t_\t_\t1\tcase\t_\t_
3\tdog\t_\tNOUN\t_\t_\t4\tnsubj\t_\t_
4\tsleeps\t_\tVERB\t_\t_\t0\troot\t_\t_
5\tin\t_\tADP\t_\t_\t7\tcase\t_\t_
6\tthe\t_\tDET\t_\t_\t7\tdet\t_\t_
7\tgarden\t_\tNOUN\t_\t_\t4\tobl\t_\t_
8\t.\t_\tPUNCT\t_\t_\t4\tpunct\t_\t_

# text = Il parle du vin
1\tIl\t_\tPRON\t_\t_\t2\tnsubj\t_\t_
2\tparle\t_\tVERB\t_\t_\t0\troot\t_\t_
3-4\tdu\t_\t_\t_\t_\t_\t_\t_\t_
3\tde\t_\tADP\t_\t_\t5\tcase\t_\t_
4\tle\t_\tDET\t_\t_\t5\tdet\t_\t_
5\tvin\t_\tNOUN\t_\t_\t2\tobl:arg\t_\t_

"""


@pytest.fixture
def sentences(tmp_path):
    path = tmp_path / "hand-ud-train.conllu"
    path.write_text(CONLLU)
    return read_conllu(path)


def names(task, sentence):
    return [task.classes[k] if k != IGNORE else None for k in task.labels(sentence)]


def test_content_function_labels(sentences):
    task = Task("content_function")
    assert task.classes == ["function", "content"]
    assert task.labels(sentences[0]) == [1, 0, 1, 1, 0, 0, 1, IGNORE]  # PUNCT is never a target


def test_upos_labels_one_class_per_target_tag_seen_in_training(sentences):
    task = Task("upos")
    assert len(task.classes) == 13 and "PUNCT" not in task.classes
    task.fit(sentences[:1])  # the first sentence has no PRON: not a class, not a target
    assert task.classes == ["ADP", "DET", "NOUN", "PART", "PROPN", "VERB"]
    assert names(task, sentences[1]) == [None, "VERB", "ADP", "DET", "NOUN"]  # de + le: the words of "du"


def test_deprel_labels_universal_part_and_other(sentences):
    task = Task("deprel", min_count=2)
    task.fit(sentences)  # nmod (from nmod:poss) is seen once: merged into "other"
    assert task.classes == ["case", "det", "nsubj", "obl", "root", "other"]
    assert names(task, sentences[0]) == ["other", "case", "nsubj", "root", "case", "det", "obl", None]
    assert names(task, sentences[1])[-1] == "obl"  # obl:arg → obl
    assert universal("nmod:poss") == "nmod" and universal("root") == "root"


def test_head_distance_bins(sentences):
    task = Task("head_distance", bins=[1, 3])
    assert task.classes == ["root", "left 1", "left 2-3", "left >=4", "right 1", "right 2-3", "right >=4"]
    assert names(task, sentences[0]) == ["right 2-3", "left 1", "right 1", "root", "right 2-3", "right 1",
                                         "left 2-3", None]
    assert names(task, sentences[1]) == ["right 1", "root", "right 2-3", "right 1", "left 2-3"]
    wide = Task("head_distance", bins=[2])
    assert wide.classes == ["root", "left 1-2", "left >=3", "right 1-2", "right >=3"]
    assert names(wide, sentences[0])[0] == "right 1-2" and names(wide, sentences[0])[6] == "left >=3"


@pytest.mark.parametrize("settings, key", [
    ({"name": "pos"}, "task.name='pos'"), ({"name": "deprel", "min_count": 0}, "task.min_count=0"),
    ({"name": "head_distance", "bins": [3, 1]}, "task.bins=[3, 1]"),
    ({"name": "upos", "extra": 1}, "task.extra"),
])
def test_bad_task_settings_name_the_key(settings, key):
    with pytest.raises(ConfigError, match=key.replace("[", r"\[")):
        Task.from_settings(settings, ["NOUN"], ["DET"])


def test_a_task_with_one_class_or_an_empty_class_is_refused(sentences):
    task = Task("deprel", min_count=100)
    task.fit(sentences)
    assert task.classes == ["other"]
    with pytest.raises(DataError, match="has 1 class"):
        task.check([task.labels(s) for s in sentences], "hand-ud-train.conllu")
    near = Task("head_distance")  # no head four or more words away in these sentences
    with pytest.raises(DataError, match=r"no training target of class\(es\) \['left >=4', 'right >=4'\]"):
        near.check([near.labels(s) for s in sentences], "hand-ud-train.conllu")


def test_multiclass_report_block_matches_scikit_learn():
    rng = np.random.default_rng(0)
    label = rng.integers(0, 4, 600)
    predicted = np.where(rng.random(600) < 0.6, label, rng.integers(0, 4, 600))
    out = classification(predicted, label, Bootstrap(np.arange(600) // 6, resamples=100),
                         ["a", "b", "c", "d"]).to_json()
    assert out["acc"] == pytest.approx(accuracy_score(label, predicted))
    assert out["balanced_acc"] == pytest.approx(balanced_accuracy_score(label, predicted))
    assert out["macro_f1"] == pytest.approx(f1_score(label, predicted, average="macro"))
    assert out["acc_ci95"][0] <= out["acc"] <= out["acc_ci95"][1]
    support = np.bincount(label)
    assert out["majority_share"] == pytest.approx(support.max() / 600)
    recall_c = ((predicted == 2) & (label == 2)).sum() / support[2]
    assert out["per_class"]["c"] == {"support": int(support[2]), "recall": pytest.approx(recall_c)}


def test_module_metrics_match_scikit_learn():
    module = MaskedTokenModule({"vocab_size": 10, "num_classes": 3}, None)
    metrics = module.metrics["test_metrics"]
    predicted, label = torch.tensor([0, 1, 2, 2, 1, 0, 2, 2]), torch.tensor([0, 1, 1, 2, 2, 0, 2, 1])
    metrics.update(predicted, label)
    got = {k: float(v) for k, v in metrics.compute().items()}
    assert got["test/acc"] == pytest.approx(accuracy_score(label, predicted))
    assert got["test/balanced_acc"] == pytest.approx(balanced_accuracy_score(label, predicted))
    assert got["test/macro_f1"] == pytest.approx(f1_score(label, predicted, average="macro"))
    assert "test/f1" not in got  # the binary F1's name is not reused for another number


def planted_split(n, seed):
    """Sentences of three words; the middle one is the target and its class is the left word's id % 3."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(3, 12, (n, 3), generator=g)
    labels = torch.full((n, 3), IGNORE)
    labels[:, 1] = ids[:, 0] % 3
    return SplitTensors.build(ids.tolist(), labels.tolist(), [[1, -1, 1]] * n, [[0, 0, 0]] * n,
                              [[False] * 3] * n)


def test_multinomial_baselines_on_a_planted_corpus():
    train, test = planted_split(600, 0), planted_split(300, 1)
    out = task_baselines(train, test, vocab_size=12)
    assert out["bigram"]["acc"] == 1.0 and out["bigram"]["macro_f1"] == 1.0  # the left word decides
    share = np.bincount(test.labels[:, 1].numpy()).max() / 300
    assert out["majority"]["acc"] == pytest.approx(share) and share < 0.5
    order = torch.randperm(300, generator=torch.Generator().manual_seed(2))
    shuffled = dataclasses.replace(test, labels=test.labels[order])
    assert task_baselines(train, shuffled, vocab_size=12)["bigram"]["acc"] < 0.6  # no signal, no score


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("task, classes", [("upos", None), ("deprel", None), ("head_distance", 5)])
def test_every_task_trains_end_to_end_and_reports_its_classes(tmp_path, data_dir, task, classes):
    from attn_project.commands.train import train

    tiny = {"deprel": ["task.min_count=1"],  # a four-sentence treebank: every relation is a class
            "head_distance": ["task.bins=[1]"]}.get(task, [])  # and no head is four words to the right
    quick = ["trainer.max_epochs=1", "callbacks.progress_bar=null", "callbacks.attention_heatmaps=null"]
    cfg = compose_cfg(tmp_path, data_dir, f"task={task}", "experiment=ud_single_head", f"data.root={MINI_UD}",
                      *quick, *tiny)
    _, metrics = train(cfg)
    report = json.loads((tmp_path / "run" / "report" / "attention_report.json").read_text())
    per_class = report["test"]["per_class"]
    assert report["run"]["task"] == task and (classes is None or len(per_class) == classes)
    assert "test/f1" not in metrics and {"test/macro_f1", "test/balanced_acc"} <= set(metrics)
    ckpt = torch.load(next((tmp_path / "run" / "checkpoints").glob("last.ckpt")), weights_only=True)
    assert ckpt["hyper_parameters"]["model"]["class_names"] == list(per_class)
    assert ckpt["state_dict"]["model.classifier.weight"].shape[0] == len(per_class)


def test_the_task_is_in_run_names_hparams_and_model_size(tmp_path, data_dir, monkeypatch):
    from attn_project.run import run_names
    from attn_project.run.hparams import hparams_of

    monkeypatch.delenv(run_names.SWEPT, raising=False)
    assert run_names.experiment_folder("single_head", "upos") == "single_head-upos"
    assert run_names.experiment_folder("single_head", "content_function") == "single_head"
    monkeypatch.setenv(run_names.SWEPT, json.dumps({"task": "upos,deprel"}))
    assert run_names.experiment_folder("single_head", "upos") == "single_head"  # the job folders say it
    cfg = compose_cfg(tmp_path, data_dir, "task=head_distance")
    assert hparams_of(cfg)["task"] == "head_distance" and cfg.data.task.bins == [1, 3]


def test_hparams_metric_columns_follow_the_number_of_classes():
    from attn_project.run.hparams import hparam_metrics

    assert "test/f1" in hparam_metrics(2) and "test/macro_f1" not in hparam_metrics(2)
    multiclass = set(hparam_metrics(7))
    assert {"test/balanced_acc", "test/macro_f1"} <= multiclass and "test/f1" not in multiclass
