"""The pretrained lens: pieces → words by hand, the lens's own positive control on planted
attention, a tiny random BERT folder end to end, the bundled model's hash check and bad folders."""

import json
import os
import shutil

import pytest
import torch
from conftest import MINI_UD, ROOT
from helpers import run_cli, tiny_bert

from attn_project.analysis.lens import SplitRows
from attn_project.analysis.rows import collect, head_names
from attn_project.errors import DataError
from attn_project.pretrained.load import BUNDLED_SHA256, bundled_folder, check_hashes, model_files
from attn_project.pretrained.report import lens_report
from attn_project.pretrained.words import over_words, special_share, word_attention

EWT = ROOT.parent / "shared" / "data" / "ud_english_ewt"


def test_pieces_to_words_against_a_hand_computation():
    # [CLS] a b1 b2 b3 c [SEP]: word 1 has three pieces; the specials are in the softmax, never a word
    word = torch.tensor([[-1, 0, 1, 1, 1, 2, -1]])
    pieces = torch.rand(1, 2, 7, 7)
    pieces = pieces / pieces.sum(-1, keepdim=True)
    words = word_attention(pieces, word, 3)  # [1, 2, 3, 3]
    a = pieces[0, 1]
    assert words[0, 1, 0, 1] == pytest.approx(float(a[1, 2:5].sum()))  # to a word: the sum over its pieces
    assert words[0, 1, 1, 2] == pytest.approx(float(a[2:5, 5].mean()))  # from a word: the mean over pieces
    assert words[0, 1, 1, 1] == pytest.approx(float(a[2:5, 2:5].sum(1).mean()))
    to_specials = a[:, [0, 6]].sum(-1)  # [7]
    torch.testing.assert_close(words[0, 1].sum(-1), 1 - torch.stack([to_specials[1], to_specials[2:5].mean(),
                                                                      to_specials[5]]))
    expected_share = (to_specials[1] + to_specials[2:5].mean() + to_specials[5]) / 3
    assert special_share(words, torch.tensor([3]))[0, 1] == pytest.approx(float(expected_share))
    # over the words: each row sums to 1 (what the specials took left out), its argmax unchanged,
    # a padded row stays zero
    padded = torch.cat([words, torch.zeros(1, 2, 3, 1)], -1)  # [1, 2, 3, 4]: a fourth, padded key
    padded = torch.cat([padded, torch.zeros(1, 2, 1, 4)], -2)  # [1, 2, 4, 4]: and a padded row
    renormalised = over_words(padded)
    torch.testing.assert_close(renormalised[0, :, :3].sum(-1), torch.ones(2, 3))
    assert renormalised[0, :, 3].abs().sum() == 0
    assert torch.equal(renormalised[0, :, :3, :3].argmax(-1), words[0].argmax(-1))
    torch.testing.assert_close(renormalised[0, 1, 0, :3], words[0, 1, 0] / words[0, 1, 0].sum())


def planted_rows(num_sentences: int, look_at_head: bool):
    """Sentences of 6 words whose heads lie 1–3 words left or right (so no single offset finds them);
    head 0 attends to the gold head (``look_at_head``) or always one word to the left, head 1 to the
    word on the left."""
    gen = torch.Generator().manual_seed(0)
    batches = []
    for s in range(num_sentences):
        t = 6
        heads = torch.full((t,), -1)
        root = 2 + s % 2
        for i in range(t):
            if i != root:
                choices = [j for j in range(t) if j != i and abs(j - i) <= 3]
                heads[i] = choices[int(torch.randint(0, len(choices), (1,), generator=gen))]
        weights = torch.full((1, 2, t, t), 0.01)
        for i in range(t):
            target = int(heads[i]) if look_at_head and heads[i] >= 0 else max(i - 1, 0) if i else 1
            weights[0, 0, i, target] = 1.0
            weights[0, 1, i, max(i - 1, 0) if i else 1] = 1.0
        batches.append({"weights": weights / weights.sum(-1, keepdim=True), "lengths": torch.tensor([t]),
                        "heads": heads[None], "rels": torch.where(heads >= 0, 1, 0)[None],
                        "punct": torch.zeros(1, t, dtype=torch.bool),
                        "labels": torch.tensor([[-100] + [1] * (t - 1)]),  # word 0 has no word to its left
                        "index": torch.tensor([s])})
    return SplitRows(collect(batches), [0.0], list(range(num_sentences)))


def test_the_lens_positive_control_planted_heads_and_a_planted_offset():
    dev, test = planted_rows(80, True), planted_rows(120, True)
    report, block, grid = lens_report(test, dev, ["root", "dep"], {"model": "planted"}, layers=1,
                                      punct_edges=True, resamples=100, seed=0)
    dep = block.per_relation["dep"]
    assert dep.best_head == 0 and dep.best_head_after.value == 1.0 and dep.beats_position is True
    assert grid.shape == (1, 2) and grid[0, 0] > 0.3 and report["layer_head_margin"][0][0] == grid[0, 0]
    # a head planted at the best fixed offset scores exactly that offset's baseline, and does not beat it
    dev, test = planted_rows(80, False), planted_rows(120, False)
    _, block, grid = lens_report(test, dev, ["root", "dep"], {"model": "planted"}, layers=1, punct_edges=True,
                                 resamples=100, seed=0)
    dep = block.per_relation["dep"]
    assert dep.best_offset_name == "-1"
    assert dep.best_head_after.value == pytest.approx(dep.best_offset) and dep.beats_position is False
    assert grid[0] == pytest.approx([0.0, 0.0], abs=1e-9)


def test_a_tiny_random_bert_folder_runs_the_whole_command(tmp_path, capsys):
    model = tiny_bert(tmp_path / "tiny")
    out = tmp_path / "out"
    args = [f"data.root={MINI_UD}", f"pretrained.path={model}", f"out={out}", "pretrained.measure_floor=true",
            f"data.cache_dir={tmp_path / 'cache'}", "analysis.bootstrap_resamples=50"]
    code, output = run_cli("pretrained", args, capsys)
    assert code == 0, output
    report = json.loads((out / "attention_report.json").read_text())
    assert report["run"]["layers"] == 2 and report["run"]["heads"] == 2
    assert report["run"]["head_names"] == head_names(2, 2) == ["L0H0", "L0H1", "L1H0", "L1H1"]
    assert len(report["after"]["per_head"]["dep_alignment"]) == 4
    assert len(report["special_share"]["per_layer"]) == 2 and 0 < report["special_share"]["per_layer"][0] < 1
    assert report["analysis"]["offsets_chosen_on"] == "dev"
    seconds = report["run"]["seconds"]
    assert seconds["floor"] > 0
    assert seconds["lens_over_floor"] == pytest.approx(seconds["lens"] / seconds["floor"], rel=1e-2)
    text = (out / "attention_report.md").read_text()  # the treebank, a summary from the numbers, caveats
    assert f"on `{MINI_UD}`" in text.splitlines()[0] and text.splitlines()[2].startswith("**Summary:** ")
    assert "## What this report cannot show" in text and "Attention is not explanation" in text
    for name in ("attention_report.md", "layer_head_margin.png", "per_relation.png", "attention.html"):
        assert (out / name).is_file()
    assert list(out.glob("events.out.tfevents.*"))


@pytest.mark.parametrize("damage, message", [
    ("pickled", "no \\*.safetensors weights \\(pytorch_model.bin are pickled weights: refused"),
    ("no_tokenizer", "tokenizer.json: not found"),
    ("auto_map", "config.json: names custom code \\(auto_map\\)"),
    ("gpt2", "config.json: model_type='gpt2' is not an encoder"),
    ("too_large", "exceeds pretrained.max_memory_gb=1e-06"),
    ("no_config", "config.json: not found"),
    ("renamed_tensor", "do not match config.json \\(missing keys: embeddings.word_embeddings.weight\\)"),
    ("nan_weight", "weight embeddings.word_embeddings.weight holds NaN or infinite values"),
    ("huge_layers", "config.json: num_hidden_layers=1000000 is outside 1..256"),
    ("more_layers", "config.json: num_hidden_layers=3, but the weights hold 2 layers"),
    ("zero_heads", "config.json: num_attention_heads=0 is outside"),
    ("huge_positions", "config.json: max_position_embeddings=1000000000 is outside"),
    ("vocab", "config.json: vocab_size=61, but the weights' word embedding has 60 rows"),
    ("pad", "config.json: pad_token_id=60 is not an id of the vocabulary"),
    ("decoder", "config.json: is_decoder/add_cross_attention is set"),
    ("deep", "config.json: nested too deep"),
    ("pipe", "model.safetensors: not a regular file"),
    ("tokenizer_ids", "tokenizer.json: the tokenizer has 62 ids, more than the model's vocab_size=60"),
])
def test_bad_model_folders_end_in_one_line_naming_the_file(tmp_path, capsys, damage, message):
    folder = tiny_bert(tmp_path / "tiny")
    if damage == "pickled":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "no_tokenizer":
        (folder / "tokenizer.json").unlink()
    elif damage == "auto_map":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(config | {"auto_map": {"AutoModel": "evil.Model"}}))
    elif damage == "gpt2":
        config = json.loads((folder / "config.json").read_text())
        (folder / "config.json").write_text(json.dumps(config | {"model_type": "gpt2"}))
    elif damage == "no_config":
        (folder / "config.json").unlink()
    else:
        damage_folder(folder, damage)
    memory = "1e-06" if damage == "too_large" else "4"
    args = [f"data.root={MINI_UD}", f"pretrained.path={folder}", f"pretrained.max_memory_gb={memory}",
            f"out={tmp_path / 'out'}"]
    code, output = run_cli("pretrained", args, capsys)
    assert code != 0
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and __import__("re").search(message, errors[0]), output
    assert "Traceback" not in output and not (tmp_path / "out").exists()


CONFIG_DAMAGE = {"huge_layers": {"num_hidden_layers": 10**6}, "more_layers": {"num_hidden_layers": 3},
                 "zero_heads": {"num_attention_heads": 0},
                 "huge_positions": {"max_position_embeddings": 10**9},
                 "vocab": {"vocab_size": 61}, "pad": {"pad_token_id": 60}, "decoder": {"is_decoder": True}}


def damage_folder(folder, damage):
    """A hostile or broken model folder: weights renamed or NaN, a config that would hang or crash."""
    from safetensors.torch import load_file, save_file
    from tokenizers import Tokenizer

    weights = folder / "model.safetensors"
    config_path = folder / "config.json"
    if damage in ("renamed_tensor", "nan_weight"):
        tensors = load_file(weights)
        name = "embeddings.word_embeddings.weight"
        if damage == "renamed_tensor":
            tensors["embeddings.word_embeddings.renamed"] = tensors.pop(name)
        else:
            tensors[name][0, 0] = float("nan")
        save_file(tensors, weights, metadata={"format": "pt"})
    elif damage in CONFIG_DAMAGE:
        config_path.write_text(json.dumps(json.loads(config_path.read_text()) | CONFIG_DAMAGE[damage]))
    elif damage == "deep":
        config_path.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    elif damage == "pipe":
        weights.unlink()
        os.mkfifo(weights)
    elif damage == "tokenizer_ids":
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        tokenizer.add_tokens(["zzzunseen", "qqqunseen"])
        tokenizer.save(str(folder / "tokenizer.json"))


def test_a_flipped_byte_in_the_bundled_weights_is_refused(tmp_path):
    copy = tmp_path / "bundled"
    shutil.copytree(bundled_folder(), copy)
    check_hashes(copy, BUNDLED_SHA256)  # the copy as shipped passes
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(DataError, match="model.safetensors: SHA-256 does not match the pinned hash"):
        check_hashes(copy, BUNDLED_SHA256)


def few_sentences(tmp_path, count: int = 25):
    """The first sentences of each EWT split (the mini treebank where EWT is not beside the repository)."""
    if not EWT.is_dir():
        return MINI_UD
    folder = tmp_path / "ewt_few"
    folder.mkdir()
    for path in EWT.glob("*.conllu"):
        blocks = path.read_text(encoding="utf-8").split("\n\n")[:count]
        (folder / path.name).write_text("\n\n".join(blocks) + "\n\n", encoding="utf-8")
    return folder


@pytest.mark.slow
def test_the_bundled_model_on_a_few_ewt_sentences(tmp_path, capsys):
    files = model_files(None, 4.0)
    assert files.bundled and files.name == "all-MiniLM-L6-v2"
    out = tmp_path / "out"
    treebank = few_sentences(tmp_path)
    args = [f"data.root={treebank}", f"out={out}", f"data.cache_dir={tmp_path / 'cache'}",
            "analysis.bootstrap_resamples=50"]
    code, output = run_cli("pretrained", args, capsys)
    assert code == 0, output
    report = json.loads((out / "attention_report.json").read_text())
    run = report["run"]
    assert (run["layers"], run["heads"], run["head_names"][-1]) == (6, 12, "L5H11")
    text = (out / "attention_report.md").read_text()
    assert "not BERT itself" in text and "## What this report cannot show" in text
    assert f"on `{treebank}`" in text.splitlines()[0]  # names the treebank
    assert text.splitlines()[2].startswith("**Summary:** ")  # 25 sentences a split: too few rows to test
    best = max(report["after"]["per_head"]["dep_alignment"])
    assert best > report["best_offset"]["dep_alignment"]  # a head beats the best offset (measured 0.6 vs 0.4)


def test_inspect_a_pretrained_folder_on_any_text_every_layer_and_head(tmp_path, capsys):
    import numpy as np

    model = tiny_bert(tmp_path / "tiny")
    out = tmp_path / "inspect"
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 "text=The man read a letter .", f"out={out}",
                                                 "viz.format=svg"], capsys)
    assert code == 0, output
    assert {p.stem for p in out.glob("*.svg")} == {p.stem for p in out.glob("*.png")} != set()  # viz.format
    assert "pieces: [CLS]" in output
    arrays = np.load(out / "attention.npz")
    assert arrays["sentence0"].shape == (4, 6, 6)  # 2 layers × 2 heads, 6 words
    np.testing.assert_allclose(arrays["sentence0"].sum(-1), 1, rtol=1e-5)  # rows over the words
    exported = json.loads((out / "attention.json").read_text())["sentences"][0]
    assert all(0 < share < 1 for share in exported["special_share"])  # what the specials took, apart
    assert exported["layers"] == 2 and exported["head_names"] == ["L0H0", "L0H1", "L1H0", "L1H1"]
    assert (out / "sentence0_layers.png").is_file() and (out / "sentence0_layer1.png").is_file()
    assert "layer" in (out / "attention.html").read_text()
    good = {p.name: p.read_bytes() for p in out.iterdir()}
    too_long = " ".join(["word"] * 80)  # the tiny model has 64 positions: refused, not cut
    sentences = write_lines(tmp_path, ["The man read .", too_long])
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 f"file={sentences}", f"out={out}"], capsys)
    assert code != 0 and "the sentence is refused, not cut" in output
    assert {p.name: p.read_bytes() for p in out.iterdir()} == good  # the earlier output untouched
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".inspect")) == []  # no leftovers
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 "text=The man read .", f"out={tmp_path / 'mine'}"], capsys)
    assert code != 0 and "holds files inspect did not write (notes.txt)" in output
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 "text=The man read .", f"out={out}"], capsys)
    assert code == 0 and (out / "sentence0_layer1.png").read_bytes() != good["sentence0_layer1.png"]


def test_inspect_draws_the_chosen_heads_and_exports_every_one(tmp_path, capsys, monkeypatch):
    import numpy as np

    from attn_project.pretrained import drawn_heads

    model = tiny_bert(tmp_path / "tiny")

    def inspect(out, *args):
        return run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                             "text=The man read a letter .", f"out={tmp_path / out}", *args],
                       capsys)

    code, output = inspect("one", "heads=[L1H0]")
    assert code == 0, output
    assert sorted(p.name for p in (tmp_path / "one").glob("*.png")) == ["sentence0_layer1.png",
                                                                        "sentence0_layers.png"]
    assert np.load(tmp_path / "one" / "attention.npz")["sentence0"].shape == (4, 6, 6)  # every head's data
    from attn_project.data.conllu import read_conllu

    treebank = MINI_UD / "en_mini-ud-dev.conllu"  # a CoNLL-U file: its sentences with their gold trees
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 f"file={treebank}", f"out={tmp_path / 'gold'}"], capsys)
    assert code == 0, output
    exported = json.loads((tmp_path / "gold" / "attention.json").read_text())["sentences"]
    assert [s["gold_heads"] for s in exported] == [s.heads for s in read_conllu(treebank)]
    monkeypatch.setattr(drawn_heads, "MAX_DRAWN_SENTENCES", 1)  # a long file: the first sentence drawn
    code, output = run_cli("inspect_attention", ["pretrained=minilm", f"pretrained.path={model}",
                                                 f"file={treebank}", f"out={tmp_path / 'first'}"], capsys)
    assert code == 0 and {p.name[:10] for p in (tmp_path / "first").glob("*.png")} == {"sentence0_"}, output
    assert "2 sentences: figures for the first 1" in output
    assert len(json.loads((tmp_path / "first" / "attention.json").read_text())["sentences"]) == len(exported)
    code, output = inspect("data", "figures=false")
    assert code == 0 and not list((tmp_path / "data").glob("*.png")), output
    assert (tmp_path / "data" / "attention.html").is_file()
    for args, message in ((["layers=[5]"], "layers=[5]: 5 is not a layer of this model (0 to 1)"),
                          (["heads=[L9H0]"], "'L9H0' is not a head of this model (L0H0 to L1H1)"),
                          (["figures=maybe"], "figures='maybe': choose auto")):
        code, output = inspect("bad", *args)
        assert code != 0 and message in output and "Traceback" not in output, output
        assert not (tmp_path / "bad").exists()


def test_long_sentences_are_warned_about_and_drawn_only_for_chosen_heads(caplog):
    from attn_project.pretrained.drawn_heads import MAX_DRAWN_WORDS, chosen_heads, warn_if_long

    every, one = chosen_heads(None, None, 6, 12), chosen_heads(None, ["L2H1"], 6, 12)
    assert one.by_layer == {2: [1]} and len(every.by_layer) == 6
    assert every.draws(MAX_DRAWN_WORDS, "auto") and not every.draws(MAX_DRAWN_WORDS + 1, "auto")
    assert one.draws(172, "auto") and every.draws(172, "true") and not one.draws(5, "false")
    assert chosen_heads([2], ["L3H0"], 6, 12).by_layer == {2: list(range(12)), 3: [0]}
    with caplog.at_level("WARNING"):
        warn_if_long(0, 30, every, "auto")
        warn_if_long(1, 172, every, "auto")
        warn_if_long(2, 172, one, "auto")
    assert [r.getMessage()[:14] for r in caplog.records] == ["sentence 1 has", "sentence 2 has"]
    assert "written as data only" in caplog.records[0].getMessage()
    assert "1 panels of 172 × 172 cells" in caplog.records[1].getMessage()


def write_lines(folder, lines):
    path = folder / "sentences.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow  # trains a model (the shared checkpoint) and loads the bundled encoder
def test_the_front_figure_draws_a_trained_run_beside_a_pretrained_head(trained_ckpt, tmp_path):
    from attn_project.commands.front_figure import front_figure
    from attn_project.errors import ConfigError

    out = front_figure(str(trained_ckpt), "the cat sat on the mat .", "L2H0", tmp_path / "front.png")
    assert out.is_file() and out.stat().st_size > 20_000
    with pytest.raises(ConfigError, match="L9H0"):
        front_figure(str(trained_ckpt), "the cat sat .", "L9H0", tmp_path / "no.png")
    assert not (tmp_path / "no.png").exists()


def test_a_test_split_of_punctuation_only_is_one_error_and_writes_nothing(tmp_path, capsys):
    treebank = tmp_path / "punct"
    shutil.copytree(MINI_UD, treebank)
    test = next(treebank.glob("*-ud-test.conllu"))
    test.write_text("# sent_id = p1\n# text = . , !\n1\t.\t.\tPUNCT\t.\t_\t0\troot\t_\t_\n"
                    "2\t,\t,\tPUNCT\t,\t_\t1\tpunct\t_\t_\n3\t!\t!\tPUNCT\t.\t_\t1\tpunct\t_\t_\n\n")
    args = [f"data.root={treebank}", f"pretrained.path={tiny_bert(tmp_path / 'tiny')}",
            f"out={tmp_path / 'out'}", f"data.cache_dir={tmp_path / 'cache'}"]
    code, output = run_cli("pretrained", args, capsys)
    assert code != 0 and "the test split holds no scored word" in output, output
    assert "Traceback" not in output and not (tmp_path / "out").exists()


def test_the_report_summary_is_written_from_the_verdicts():
    from types import SimpleNamespace

    from attn_project.analysis.report_schema import Estimate
    from attn_project.pretrained.report import summary_sentence

    def entry(acc, offset, verdict):
        return SimpleNamespace(beats_position=verdict, best_offset=offset, best_offset_name="-1", best_head=1,
                               best_head_after=Estimate(acc, (acc - 0.02, acc + 0.02)))

    block = SimpleNamespace(per_relation={"obj": entry(0.74, 0.35, True), "det": entry(0.79, 0.58, True),
                                          "nsubj": entry(0.40, 0.38, False), "dep": entry(0.1, 0.1, None)})
    text = summary_sentence(block, ["L0H0", "L0H1"])
    assert text.startswith("**Summary:** for 2 of 3 relations tested") and "obj's L0H1 (0.740" in text
    none = SimpleNamespace(per_relation={"nsubj": entry(0.40, 0.38, False)})
    assert "no relation's dev-chosen head beats" in summary_sentence(none, ["L0H0", "L0H1"])
    untested = SimpleNamespace(per_relation={"dep": entry(0.1, 0.1, None)})
    assert "no relation had enough test rows" in summary_sentence(untested, ["L0H0", "L0H1"])


def test_reports_on_two_treebanks_never_share_a_folder(tmp_path):
    from omegaconf import OmegaConf

    from attn_project.commands.pretrained import output_folder

    def folder(root):
        return output_folder(OmegaConf.create({"out": None, "paths": {"log_dir": str(tmp_path)},
                                               "data": {"root": root}}), "all-MiniLM-L6-v2")

    ewt, gum = folder("../shared/data/ud_english_ewt"), folder("/data/ud_english_gum")
    assert ewt.parent == tmp_path / "pretrained" / "all-MiniLM-L6-v2" / "ud_english_ewt"
    assert gum.parent.name == "ud_english_gum"
