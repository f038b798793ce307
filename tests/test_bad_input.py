"""Bad input, table-driven: each case must end in one clear message (naming the file, line or
config key), a non-zero exit, no traceback, and no input file changed."""

import hashlib
import shutil

import pytest
import torch
from conftest import MINI_UD
from helpers import digest, run_cli

GOOD_LINE = "1\tThe\t_\tDET\t_\t_\t2\tdet\t_\t_"


def treebank(tmp_path, train_text=None, drop=None):
    """A copy of the mini treebank, with its train file replaced or a split removed."""
    folder = tmp_path / "tb"
    shutil.copytree(MINI_UD, folder)
    train = folder / "en_mini-ud-train.conllu"
    if train_text is not None:
        train.write_text(train_text)
    if drop:
        (folder / f"en_mini-ud-{drop}.conllu").unlink()
    return folder


def corrupt(column_index, value):
    lines = (MINI_UD / "en_mini-ud-train.conllu").read_text().splitlines()
    cols = lines[2].split("\t")  # the first token line (line 3)
    if column_index is None:
        cols = cols[:-1]
    else:
        cols[column_index] = value
    lines[2] = "\t".join(cols)
    return "\n".join(lines) + "\n"


def cycle_text():
    text = (MINI_UD / "en_mini-ud-train.conllu").read_text()
    return text.replace("3\tman\t_\tNOUN\t_\t_\t4\tnsubj", "3\tman\t_\tNOUN\t_\t_\t1\tnsubj", 1)


def ckpt_variant(tmp_path, trained_ckpt, kind):
    path = tmp_path / f"{kind}.ckpt"
    if kind == "truncated":
        path.write_bytes(trained_ckpt.read_bytes()[:2000])
    else:
        checkpoint = torch.load(trained_ckpt, weights_only=True)
        CKPT_EDITS[kind](checkpoint)
        torch.save(checkpoint, path)
    return path


def other_vocabulary(checkpoint):
    from attn_project.data.tokenizer import build_word_tokenizer, tokenizer_to_json

    checkpoint["tokenizer_json"] = tokenizer_to_json(build_word_tokenizer([["a", "b", "c"]]))


def oracle_checkpoint(tmp_path, ckpt):
    """The shared checkpoint relabelled as a gold-head oracle (its weights fit: the rule adds none)."""
    checkpoint = torch.load(ckpt, weights_only=True)
    checkpoint["hyper_parameters"]["model"]["scores"] = "gold_head"
    path = tmp_path / "oracle.ckpt"
    torch.save(checkpoint, path)
    return path


CKPT_EDITS = {  # kind: an edit of a good checkpoint's plain data (each passes weights_only=True)
    "other_vocab": other_vocabulary,
    "unknown_hparam": lambda c: c["hyper_parameters"].update(surprise=1),
    "wrong_type": lambda c: c["hyper_parameters"]["model"].update(d_model="wide"),
    "absurd_vocab": lambda c: c["hyper_parameters"]["model"].update(vocab_size=10**12),
    "bad_model_key": lambda c: c["hyper_parameters"]["model"].update(heads_please=4),
    "bad_tokenizer_json": lambda c: c.update(tokenizer_json='{"model": {"type": "WordLevel", "vocab": 7}}'),
}


# name: (script, args builder(tmp_path, ckpt) -> list, expected message fragments)
CASES = {
    "unknown experiment": ("train", lambda t, c: ["experiment=nope"], ["experiment", "nope"]),
    "unknown config group option": ("train", lambda t, c: ["trainer=tpu9"], ["trainer", "tpu9"]),
    "unknown config key": ("train", lambda t, c: ["model.nonsense=1"], ["model.nonsense"]),
    "num_heads does not divide d_model": ("train", lambda t, c: ["model.num_heads=3"],
                                          ["model.num_heads=3", "d_model=64"]),
    "unknown init": ("train", lambda t, c: ["model.init=xavier"], ["model.init='xavier'", "choose one of"]),
    "unknown positional encoding": ("train", lambda t, c: ["model.positional=wavy"], ["model.positional='wavy'"]),
    "new key in the model section": ("train", lambda t, c: ["+model.nonsense=1"], ["model.nonsense", "not a model setting"]),
    "misspelt optimized_metric": ("train", lambda t, c: ["optimized_metric=val/acc_bets"],
                                  ["optimized_metric='val/acc_bets'", "choose one of", "attention/dep_alignment"]),
    "train_limit zero": ("train", lambda t, c: ["data.train_limit=0"], ["data.train_limit=0", "positive number"]),
    "min_epoch_sentences negative": ("train", lambda t, c: ["data.min_epoch_sentences=-5"], ["data.min_epoch_sentences=-5", "number of sentences"]),
    "min_frequency not a count": ("train", lambda t, c: ["data.min_frequency=often"], ["data.min_frequency='often'", "'auto'"]),
    "word_dropout not a probability": ("train", lambda t, c: ["model.word_dropout=1.5"], ["model.word_dropout=1.5", "probability"]),
    "unknown recipe": ("train", lambda t, c: ["recipe=tiny"], ["recipe", "tiny"]),
    "unknown attention scores": ("train", lambda t, c: ["model.scores=psychic"], ["model.scores='psychic'", "choose one of"]),
    "unknown tokenizer kind": ("train", lambda t, c: ["data.tokenizer=bytes"], ["data.tokenizer='bytes'", "choose one of"]),
    "max_pieces zero": ("train", lambda t, c: ["data.max_pieces=0"], ["data.max_pieces=0", "number of pieces"]),
    "oracle on raw text": ("inspect_attention", lambda t, c: [f"ckpt_path={oracle_checkpoint(t, c)}", "text=the dog runs ."],
                           ["model.scores=gold_head", "gold tree"]),
    "max_len zero": ("train", lambda t, c: ["data.max_len=0"], ["data.max_len=0"]),
    "max_len negative": ("train", lambda t, c: ["data.max_len=-5"], ["data.max_len=-5"]),
    "treebank folder missing": ("train", lambda t, c: ["data=ud", f"data.root={t}/absent"],
                                ["absent", "treebank folder not found", "fetch_ud.py"]),
    "CoNLL-U split missing": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, drop='dev')}"],
                              ["*-ud-dev.conllu"]),
    "CoNLL-U empty": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, '')}"],
                      ["en_mini-ud-train.conllu:1", "no sentences"]),
    "CoNLL-U wrong column count": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, corrupt(None, ''))}"],
                                   ["en_mini-ud-train.conllu:3", "10 tab-separated columns", "skip_invalid"]),
    "CoNLL-U non-integer head": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, corrupt(6, 'x'))}"],
                                 ["en_mini-ud-train.conllu:3", "HEAD must be an integer"]),
    "CoNLL-U head out of range": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, corrupt(6, '99'))}"],
                                  ["en_mini-ud-train.conllu:3", "out of range"]),
    "CoNLL-U cycle": ("train", lambda t, c: ["data=ud", f"data.root={treebank(t, cycle_text())}"],
                      ["en_mini-ud-train.conllu:1", "cycle"]),
    "tokenizer file missing": ("train", lambda t, c: [f"data.tokenizer_path={t}/no_tok"],
                               ["no_tok/tokenizer.json", "no tokenizer"]),
    "tokenizer corrupt": ("train", lambda t, c: [f"data.tokenizer_path={bad_tokenizer(t)}"],
                          ["tokenizer.json is corrupt"]),
    "checkpoint missing": ("inspect_attention", lambda t, c: [f"ckpt_path={t}/none.ckpt", "text=hi"],
                           ["none.ckpt", "no such file"]),
    "checkpoint truncated": ("inspect_attention",
                             lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'truncated')}", "text=hi"],
                             ["truncated.ckpt", "unreadable or truncated"]),
    "checkpoint from another vocabulary": ("eval", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'other_vocab')}"],
                                           ["other_vocab.ckpt", "different runs"]),
    "checkpoint missing (eval)": ("eval", lambda t, c: [f"ckpt_path={t}/gone.ckpt"], ["gone.ckpt"]),
    "empty text": ("inspect_attention", lambda t, c: [f"ckpt_path={c}", "text="], ["nothing to inspect"]),
    "whitespace-only text": ("inspect_attention", lambda t, c: [f"ckpt_path={c}", "text='   '"],
                             ["nothing to inspect"]),
    "empty sentence file": ("inspect_attention", lambda t, c: [f"ckpt_path={c}", f"file={blank_file(t)}"],
                            ["blank.txt", "nothing to inspect"]),
    "bench: treebank folder missing": ("bench", lambda t, c: ["--data-root", f"{t}/absent"],
                                       ["absent", "treebank folder not found"]),
    "bench: batch size zero": ("bench", lambda t, c: ["--batch-size", "0"],
                               ["--batch-size", "0 must be a positive integer"]),
    "checkpoint: unknown hyperparameter": ("inspect_attention", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'unknown_hparam')}", "text=hi"],
                                           ["unknown_hparam.ckpt", "unknown hyperparameter(s) ['surprise']"]),
    "checkpoint: hyperparameter of the wrong type": ("eval", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'wrong_type')}"],
                                                     ["wrong_type.ckpt", "model.d_model='wide'", "altered"]),
    "checkpoint: absurd vocabulary size": ("inspect_attention", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'absurd_vocab')}", "text=hi"],
                                           ["absurd_vocab.ckpt", "model.vocab_size=1000000000000"]),
    "checkpoint: unknown model argument": ("inspect_attention", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'bad_model_key')}", "text=hi"],
                                           ["bad_model_key.ckpt", "cannot build a model", "heads_please"]),
    "checkpoint: malformed tokenizer JSON": ("inspect_attention", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'bad_tokenizer_json')}", "text=hi"],
                                             ["bad_tokenizer_json.ckpt", "stored tokenizer is malformed"]),
    "resume from a URL": ("train", lambda t, c: ["ckpt_path=http://127.0.0.1:9/evil.ckpt"], ["ckpt_path=http://127.0.0.1:9/evil.ckpt", "URLs are refused"]),
    "resume from a truncated checkpoint": ("train", lambda t, c: [f"ckpt_path={ckpt_variant(t, c, 'truncated')}"],
                                           ["truncated.ckpt", "unreadable or truncated"]),
    "resume with weights of another model": ("train", lambda t, c: [f"ckpt_path={c}", "model.d_model=32"],
                                             ["last.ckpt", "weights do not fit"]),
    "max_len below the shortest generated sentence": ("train", lambda t, c: ["data.max_len=2"], ["data.max_len=2", ">= 3"]),
    "fetch_ud: treebank name leading outside --out": ("fetch_ud", lambda t, c: ["--treebank", "../../evil", "--out", f"{t}/out"],
                                                      ["--treebank '../../evil'", "refused"]),
    "text longer than max_len": ("inspect_attention", lambda t, c: [f"ckpt_path={c}", "text='" + "word " * 30 + "'"],
                                 ["30 tokens", "data.max_len=20", "refused"]),
}


def bad_tokenizer(tmp_path):
    folder = tmp_path / "tok"
    folder.mkdir()
    (folder / "tokenizer.json").write_text("{ this is not json")
    return folder


def blank_file(tmp_path):
    path = tmp_path / "blank.txt"
    path.write_text("\n   \n")
    return path


@pytest.mark.slow  # trains a model or runs a command end to end
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gets_a_clear_error(name, tmp_path, data_dir, trained_ckpt, capsys):
    script, make_args, fragments = CASES[name]
    inputs_before = digest(trained_ckpt.parent)
    args = make_args(tmp_path, trained_ckpt)
    if script in ("train", "eval"):  # Hydra scripts: keep their data and outputs in tmp
        args += [f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path}/run",
                 "data.sizes={train:1500,dev:200,test:200}"]
    tmp_inputs = digest(tmp_path)
    code, output = run_cli(script, args, capsys)
    assert code not in (0, None), output[-2000:]
    for fragment in fragments:
        assert fragment in output, f"{fragment!r} not in:\n{output[-2000:]}"
    assert "Traceback" not in output
    assert digest(trained_ckpt.parent) == inputs_before  # nothing written over
    for path, sha in tmp_inputs.items():
        assert hashlib.sha1(path.read_bytes()).hexdigest() == sha, path


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_trainer_without_a_gpu_is_one_line_and_marks_the_run_failed(tmp_path, data_dir, capsys):
    args = ["trainer=gpu", f"paths.data_dir={data_dir}", f"hydra.run.dir={tmp_path}/run",
            "data.sizes={train:1500,dev:200,test:200}"]
    code, output = run_cli("train", args, capsys)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "no CUDA GPU found" in errors[0] and "trainer=cpu" in errors[0]
    assert "Traceback" not in output and "MisconfigurationException" not in output
    failed = (tmp_path / "run" / "failed.txt").read_text()  # the folder says the run did not happen
    assert "no CUDA GPU found" in failed and not (tmp_path / "run" / "metrics.json").exists()


@pytest.mark.parametrize("script, args, expected", [
    ("train", ["model.dmodel=32"], "model.dmodel: no such setting; did you mean model.d_model?"),
    ("train", ["-m", "experiment=ud_single_head,ud_multi_head", "callbacks.early_stoping.patience=3"],
     "callbacks.early_stoping.patience: no such setting; did you mean callbacks.early_stopping.patience?"),
    ("eval", ["ckpt_path=x.ckpt", "data.rooot=x"], "data.rooot: no such setting; did you mean data.root?"),
    ("inspect_attention", ["ckpt_path=x.ckpt", "text=hi", "model.d_model=3"], "model.d_model: no such setting"),
])
def test_misspelt_key_gets_the_closest_real_one_first(script, args, expected, capsys):
    code, output = run_cli(script, args, capsys)
    assert code == 2 and f"error: {expected}" in output, output[-2000:]
    assert "To append to your config" not in output and "Traceback" not in output
