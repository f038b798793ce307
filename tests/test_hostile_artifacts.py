"""Artifacts a user is handed — checkpoints, tokenizer folders, run folders, huge CoNLL-U files —
are checked before use: one clear message or a skip with its reason, no traceback, no code run,
nothing written outside the run and data folders."""

import json
import re
import shutil

import pytest
import torch
from conftest import MINI_UD
from helpers import digest, fake_run, run_cli

from attn_project.data.conllu import MAX_LINE_BYTES, read_conllu
from attn_project.data.settings import DataSettings
from attn_project.data.tokenizer import build_word_tokenizer, load_tokenizer
from attn_project.errors import CheckpointError, ConfigError, DataError
from attn_project.study.aggregate import run_study
from attn_project.training.checkpoint import load_run


def crafted(tmp_path, trained_ckpt, edit, name="crafted.ckpt"):
    checkpoint = torch.load(trained_ckpt, weights_only=True)
    edit(checkpoint)
    path = tmp_path / "handed" / name
    path.parent.mkdir(exist_ok=True)
    torch.save(checkpoint, path)
    return path


# a crafted checkpoint per kind of data setting: (key, stored value, what the message shows)
DATA_SETTINGS = {
    "integer as text": ("max_len", "64", "data.max_len='64'"),
    "integer out of range": ("max_len", 10**9, "data.max_len=1000000000"),
    "bool for an integer": ("batch_size", True, "data.batch_size=True"),
    "float for an integer": ("train_limit", 1.5, "data.train_limit=1.5"),
    "path in a folder-name setting": ("corpus_seed", "../../outside", "data.corpus_seed='../../outside'"),
    "path in the corpus sizes": ("sizes", {"train": "../../outside", "dev": 1, "test": 1}, "data.sizes="),
    "huge corpus sizes": ("sizes", {"train": 10**12, "dev": 1, "test": 1}, "data.sizes="),
    "unknown setting": ("evil", "x", "data.evil: not a data setting"),
    "folder that is not a path": ("root", ["a", "b"], "data.root=['a', 'b']"),
    "tags that are not a list": ("content", "NOUN", "data.content='NOUN'"),
    "unknown choice": ("corpus", "web", "data.corpus='web'"),
    "count that is text": ("min_frequency", "often", "data.min_frequency='often'"),
    "flag that is text": ("lowercase", "yes", "data.lowercase='yes'"),
}


@pytest.mark.parametrize("case", list(DATA_SETTINGS))
def test_checkpoint_data_settings_are_checked_like_the_config(case, tmp_path, data_dir, trained_ckpt, capsys):
    key, value, shown = DATA_SETTINGS[case]
    path = crafted(tmp_path, trained_ckpt, lambda c: c["datamodule_hyper_parameters"].update({key: value}))
    before = digest(tmp_path)
    code, output = run_cli("eval", [f"ckpt_path={path}", f"paths.data_dir={data_dir}",
                                    f"hydra.run.dir={tmp_path}/run"], capsys)
    assert code not in (0, None), output[-2000:]
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "crafted.ckpt" in errors[0] and shown in errors[0], output[-2000:]
    assert "Traceback" not in output
    written = set(digest(tmp_path)) - set(before)
    assert all(p.is_relative_to(tmp_path / "run") for p in written), written
    assert not list(tmp_path.parent.glob("**/outside")) and not (data_dir / "outside").exists()


def test_data_settings_checks_are_the_config_checks():
    """One set of rules: the DataModule refuses on the command line what a checkpoint may not store."""
    from attn_project.data.datamodule import MaskedTokenDataModule

    for key, value, shown in DATA_SETTINGS.values():
        with pytest.raises(ConfigError, match=re.escape(shown)):
            MaskedTokenDataModule(**{"root": "data", key: value})
    assert DataSettings.checked({"root": "data"}).sizes == {"train": 20000, "dev": 2000, "test": 2000}


def test_callables_named_in_a_checkpoint_are_never_instantiated(tmp_path, trained_ckpt, capsys):
    """The stored optimizer and scheduler configs name classes; eval and inspect build nothing from them."""
    marker = tmp_path / "code_ran"
    hostile = {"_target_": "os.system", "command": f"touch {marker}"}

    def edit(checkpoint):
        checkpoint["hyper_parameters"]["optimizer"] = dict(hostile)
        checkpoint["hyper_parameters"]["scheduler"] = dict(hostile)

    path = crafted(tmp_path, trained_ckpt, edit)
    code, output = run_cli("inspect_attention", [f"ckpt_path={path}", "text=the dog runs .",
                                                 f"out={tmp_path}/view"], capsys)
    assert code in (0, None), output[-2000:]
    module = load_run(path).module
    with pytest.raises(ConfigError, match="no optimizer"):
        module.configure_optimizers()
    assert not marker.exists()


def tokenizer_folder(tmp_path, marker):
    """A saved tokenizer folder whose config names a Python class in a file beside it."""
    folder = tmp_path / "tokenizer"
    build_word_tokenizer([["the", "dog", "runs"]]).save_pretrained(str(folder))
    (folder / "evil_tokenizer.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n"
                                              "from transformers import PreTrainedTokenizerFast\n"
                                              "class EvilTokenizer(PreTrainedTokenizerFast):\n    pass\n")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(tokenizer_class="EvilTokenizer",
                  auto_map={"AutoTokenizer": [None, "evil_tokenizer.EvilTokenizer"]})
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_tokenizer_folder_is_read_without_running_what_it_names(tmp_path):
    marker = tmp_path / "code_ran"
    folder = tokenizer_folder(tmp_path, marker)
    tokenizer = load_tokenizer(folder)
    saved = json.loads((folder / "tokenizer.json").read_text())["model"]["vocab"]
    assert tokenizer.get_vocab() == saved and tokenizer.mask_token_id == saved["[MASK]"]
    assert not marker.exists()


@pytest.mark.parametrize("text, fragment", [
    ("{ not json", "is corrupt"),
    ('{"version": "1.0", "model": {"type": "WordLevel", "vocab": {"a": 0}, "unk_token": "a"}}', "[PAD]"),
])
def test_broken_tokenizer_folder_ends_in_one_error_line(tmp_path, data_dir, capsys, text, fragment):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_text(text)
    with pytest.raises(DataError, match="tokenizer"):
        load_tokenizer(folder)
    args = [f"data.tokenizer_path={folder}", f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path}/run",
            "data.sizes={train:1500,dev:200,test:200}"]
    code, output = run_cli("train", args, capsys)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code not in (0, None) and len(errors) == 1 and fragment in errors[0], output[-2000:]
    assert "Traceback" not in output


def break_files(folder, kind):
    """Edit a finished run folder the way a crash, an editor or a hostile sender would."""
    report = folder / "report" / "attention_report.json"
    if kind == "truncated report":
        report.write_text(report.read_text()[:40])
    elif kind == "report that is a list":
        report.write_text("[1, 2]")
    elif kind == "report metric that is text":
        data = json.loads(report.read_text())
        data["test"]["acc"] = "high"
        report.write_text(json.dumps(data))
    elif kind == "relation without its count":
        data = json.loads(report.read_text())
        data["per_relation"]["det"] = {"after": 0.5, "best_offset": 0.2}
        report.write_text(json.dumps(data))
    elif kind == "metrics that are not numbers":
        (folder / "metrics.json").write_text(json.dumps({"test/acc": "0.9"}))
    elif kind == "config that does not parse":
        (folder / ".hydra" / "config.yaml").write_text("seed: [1, 2\nmodel: {")
    elif kind == "config that is a list":
        (folder / ".hydra" / "config.yaml").write_text("- 1\n- 2\n")
    elif kind == "overrides that are not a list":
        (folder / ".hydra" / "overrides.yaml").write_text("seed: 3\n")
    elif kind == "config that is a folder":
        (folder / ".hydra" / "overrides.yaml").unlink()
        (folder / ".hydra" / "overrides.yaml").mkdir()
    elif kind == "report that is a folder":
        report.unlink()
        report.mkdir()
    elif kind == "interpolation that does not resolve":
        (folder / ".hydra" / "config.yaml").write_text("seed: ${nowhere.to_be_found}\nmodel: {d_model: 64}\n")


BROKEN_RUNS = {  # kind: what the skip reason says
    "truncated report": "unreadable", "report that is a list": "not a JSON object",
    "report metric that is text": "not a number", "relation without its count": "per_relation",
    "metrics that are not numbers": "metrics.json", "config that does not parse": "unreadable",
    "config that is a list": "config.yaml", "overrides that are not a list": "overrides.yaml",
    "config that is a folder": "unreadable", "report that is a folder": "without a report",
}


@pytest.mark.parametrize("kind", list(BROKEN_RUNS))
def test_study_skips_a_broken_run_with_its_reason(kind, tmp_path, capsys):
    root = tmp_path / "sweep"
    for seed in (1, 2, 3):
        fake_run(root / f"{seed}_seed={seed}", [], seed, 0.8 + seed / 100)
    fake_run(root / "9_seed=9", [], 9, 0.5)
    break_files(root / "9_seed=9", kind)
    study = run_study([root])
    assert [s["run"].endswith("9_seed=9") for s in study["skipped"]] == [True]
    assert BROKEN_RUNS[kind] in study["skipped"][0]["why"]
    assert study["groups"][0]["n_runs"] == 3 and study["groups"][0]["seeds"] == [1, 2, 3]
    if kind == "truncated report":  # the command as well (once: it draws and writes every figure)
        code, output = run_cli("study", [str(root), "--out", str(tmp_path / "out")], capsys)
        assert code in (0, None) and "Traceback" not in output and "Skipped" in output


def test_study_of_a_config_whose_interpolation_does_not_resolve(tmp_path):
    root = tmp_path / "sweep"
    fake_run(root / "0", ["model.d_model=64"], 1, 0.8)
    break_files(root / "0", "interpolation that does not resolve")
    study = run_study([root], group_by=["model.d_model"])
    assert study["groups"][0]["key"] == {"model.d_model": "64"} and study["groups"][0]["seeds"] == [None]


def test_study_error_hint_names_its_own_variable(tmp_path, capsys):
    code, output = run_cli("study", [str(tmp_path / "absent")], capsys)
    assert code == 2 and "ATTN_FULL_ERROR=1" in output and "HYDRA" not in output


def test_huge_line_is_refused_after_reading_a_bounded_amount(tmp_path):
    path = tmp_path / "huge-ud-train.conllu"
    with path.open("wb") as handle:
        handle.write(b"1\t" + b"a" * (64 * MAX_LINE_BYTES) + b"\t_\tNOUN\t_\t_\t0\troot\t_\t_\n\n")
    with pytest.raises(DataError, match=r"huge-ud-train.conllu:1: line longer than"):
        read_conllu(path)


def test_very_long_sentence_is_read_in_linear_time_and_dropped_by_max_len(tmp_path, caplog):
    """A 20,000-word chain, each word headed by the one before."""
    from attn_project.data.datamodule import MaskedTokenDataModule

    folder = tmp_path / "tb"
    shutil.copytree(MINI_UD, folder)
    words = 20_000
    chain = "\n".join(f"{i}\tw\t_\tNOUN\t_\t_\t{i - 1}\tdep\t_\t_" for i in range(1, words + 1))
    train = folder / "en_mini-ud-train.conllu"
    train.write_text(train.read_text() + chain + "\n\n")
    sentences = read_conllu(train)  # the tree check is linear (it was quadratic: 12 s for this one)
    assert max(map(len, sentences)) == words
    dm = MaskedTokenDataModule(root=str(folder), corpus="ud", max_len=64, cache_dir=None)
    with caplog.at_level("INFO"):
        dm.setup()
    assert max(len(s) for s in dm.sentences["train"]) <= 64
    assert "dropped 1 of" in caplog.text


def test_many_one_word_sentences_are_read(tmp_path):
    path = tmp_path / "one-ud-train.conllu"
    path.write_text("1\tHi\t_\tNOUN\t_\t_\t0\troot\t_\t_\n\n" * 20_000)
    assert len(read_conllu(path)) == 20_000


def test_checkpoint_error_names_file_and_setting(tmp_path, trained_ckpt):
    path = crafted(tmp_path, trained_ckpt, lambda c: c["datamodule_hyper_parameters"].update(max_len="x"))
    with pytest.raises(CheckpointError, match=r"crafted.ckpt: its stored data setting data.max_len='x'"):
        load_run(path)
