"""Task baselines, the before/after report of a real short run, and inspect_attention.py."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import MINI_UD, ROOT, compose_cfg

from attn_project.analysis.baselines import task_baselines
from attn_project.commands.train import train
from attn_project.data.batches import SplitTensors
from attn_project.data.conllu import read_conllu
from attn_project.data.grammar import GENERATOR_VERSION
from attn_project.data.labels import IGNORE, LabelMap

A, B, X, Y = 3, 4, 5, 6


def toy_split(n):
    """'a X b' → X is content (1); 'b Y a' → Y is function (0): only the side tells them apart."""
    ids = [[A, X, B] if k % 2 == 0 else [B, Y, A] for k in range(n)]
    labels = [[-100, 1, -100] if k % 2 == 0 else [-100, 0, -100] for k in range(n)]
    heads = [[1, -1, 1]] * n
    return SplitTensors.build(ids, labels, heads, [[0, 1, 0]] * n)


def test_baselines_on_a_toy_corpus_with_known_answers():
    result = task_baselines(toy_split(200), toy_split(50), vocab_size=7)
    assert result["majority"]["acc"] == 0.5
    assert result["bigram"]["acc"] == 1.0  # left word decides
    assert result["bag_of_neighbours"]["acc"] == 0.5  # {a, b} either way: sides lost


@pytest.fixture(scope="module")
def short_run_metrics(tmp_path_factory, data_dir):
    out = tmp_path_factory.mktemp("short_run")
    _, metrics = train(compose_cfg(out, data_dir, "experiment=multi_head", "trainer.max_epochs=2",
                                   "callbacks.progress_bar=null"))
    return out / "run", metrics


@pytest.fixture(scope="module")
def short_run(short_run_metrics):
    return short_run_metrics[0]


REQUIRED = {
    "test": ["acc", "f1"],
    "baselines": ["majority", "bigram", "bag_of_neighbours"],
    "before": ["entropy", "dep_alignment", "dep_mass"],
    "after": ["entropy", "dep_alignment", "dep_mass"],
    "offset_baselines": ["-1", "+1", "-3", "+3"],
}


@pytest.mark.slow  # trains a model or runs a command end to end
def test_report_has_every_key_and_numbers_in_range(short_run, short_run_metrics, data_dir):
    report = json.loads((short_run / "report" / "attention_report.json").read_text())
    metrics = short_run_metrics[1]
    assert report["test"]["acc"] == pytest.approx(metrics["test/acc"], abs=1e-7)  # the run's own test
    assert report["test"]["f1"] == pytest.approx(metrics["test/f1"], abs=1e-7)
    test_file = data_dir / "generated" / f"default_v{GENERATOR_VERSION}_seed0_1500-200-200_len64" / \
        "default-ud-test.conllu"
    test_labels = [label for s in read_conllu(test_file) for label in LabelMap().labels(s.upos)
                   if label != IGNORE]
    content = sum(test_labels) / len(test_labels)
    assert report["baselines"]["majority"]["acc"] == pytest.approx(max(content, 1 - content))
    for section, keys in REQUIRED.items():
        for key in keys:
            assert key in report[section], (section, key)
    for stage in ("before", "after"):
        for key in ("entropy", "dep_alignment", "dep_mass"):
            assert 0.0 <= report[stage][key] <= 1.0
        assert len(report[stage]["per_head"]["entropy"]) == 4  # multi_head: 4 heads, each kept
    assert report["before"]["entropy"] > 0.9  # PyTorch default init: near-uniform rows
    for name in ("majority", "bigram", "bag_of_neighbours"):
        assert 0.4 <= report["baselines"][name]["acc"] <= 1.0
    assert report["baselines"]["bigram"]["acc"] > report["baselines"]["majority"]["acc"]
    assert report["per_relation"]["det"].keys() >= {"before", "after", "best_offset"}
    assert 0 <= report["per_relation"]["det"]["best_offset"] <= 1
    md = (short_run / "report" / "attention_report.md").read_text()
    assert "| before |" in md and "best fixed offset" in md and "Per head" in md
    assert "Model: 1 layer(s) × 4 head(s)" in md  # the depth beside the heads
    assert "| L0H3 |" in md  # heads named as TensorBoard and the pretrained lens name them
    assert "*dependency alignment* — the share of rows" in md and "*dependency mass* —" in md  # defined
    def ci(entry, key):  # the Markdown shows the JSON's numbers, rounded, with their intervals
        lo, hi = entry[f"{key}_ci95"]
        assert lo <= entry[key] <= hi, key  # an interval contains its estimate
        return f"{entry[key]:.3f} [{lo:.3f}, {hi:.3f}]"

    test, after = report["test"], report["after"]
    assert f"| classifier | {ci(test, 'acc')} | {ci(test, 'balanced_acc')} | {ci(test, 'macro_f1')} | " in md
    assert (f"| after | {ci(after, 'entropy')} | {ci(after, 'dep_alignment')} | {ci(after, 'dep_mass')} | "
            f"{ci(after, 'self_share')} |") in md
    assert f"| ordered bigram | {report['baselines']['bigram']['acc']:.3f} |" in md
    assert test["content_share"] == pytest.approx(content)
    pngs = {p.name for p in (short_run / "report").glob("*.png")}
    assert {"entropy_histogram.png", "per_relation.png", "before_after_sample0.png"} <= pngs


def test_report_has_interventions_and_effective_attention_for_several_heads(short_run, short_run_metrics):
    from attn_project.analysis.report_schema import Report

    report = json.loads((short_run / "report" / "attention_report.json").read_text())
    interventions = report["interventions"]
    assert {"learned", "uniform", "best_offset", "gold_head", "gold_neighbourhood", "self", "untrained",
            "uniform_head0", "uniform_head3"} <= set(interventions)  # multi_head: 4 heads, each in turn
    assert interventions["learned"]["acc"] == pytest.approx(short_run_metrics[1]["test/acc"], abs=1e-7)
    effective = report["effective"]
    assert effective["before_is"] == "effective"  # the untrained weights travelled with the run
    assert {"after", "alignment_margin", "best_offset", "offset_baselines", "per_relation",
            "per_relation_to_dependent"} <= set(effective)
    assert len(effective["after"]["per_head"]["entropy"]) == 4
    assert effective["after"]["dep_alignment"] != report["after"]["dep_alignment"]  # another map
    md = (short_run / "report" / "attention_report.md").read_text()
    assert "| untrained |" in md and "| effective |" in md and "Weights vs effective attention" in md
    typed = Report.from_json(report)
    assert typed.to_json() == report  # the schema reads and writes every key of a real report
    metrics = typed.study_metrics()  # what study.py reads
    for name in ("intervention/untrained/acc", "effective/dep_alignment", "effective/alignment_margin"):
        assert isinstance(metrics[name], float), name


def test_one_head_gets_no_per_head_figure(tmp_path):
    from attn_project.commands.inspect import SentenceAttention, write_views

    uniform = torch.full((1, 3, 3), 1 / 3)  # [H=1, T, T]
    probabilities = [[0.8, 0.2], [0.1, 0.9], [0.5, 0.5]]  # [T, C]: function, content
    one_head = SentenceAttention(["the", "dog", "."], [False] * 3, probabilities, uniform)
    written = [p.name for p in write_views([one_head], tmp_path)]
    assert "sentence0_mask_map.png" in written and "sentence0_heads.png" not in written
    assert one_head.predictions() == ["function (P=0.80)", "content (P=0.90)", None]


def test_a_long_file_gets_figures_for_its_first_sentences_and_data_for_every_one(tmp_path, monkeypatch,
                                                                                caplog):
    from attn_project.commands.inspect import SentenceAttention, write_views
    from attn_project.pretrained import drawn_heads

    monkeypatch.setattr(drawn_heads, "MAX_DRAWN_SENTENCES", 2)
    two_heads = torch.full((2, 3, 3), 1 / 3)  # [H=2, T, T]
    sentences = [SentenceAttention(["the", "dog", "."], [False] * 3, [[0.8, 0.2]] * 3, two_heads)] * 3
    with caplog.at_level("WARNING"):
        drawn = {p.name for p in write_views(sentences, tmp_path / "auto") if p.suffix == ".png"}
    assert drawn == {f"sentence{n}_{kind}.png" for n in (0, 1) for kind in ("mask_map", "heads")}
    assert "3 sentences: figures for the first 2" in caplog.text
    assert len(np.load(tmp_path / "auto" / "attention.npz").files) == 6  # every sentence's map and words
    assert len(json.loads((tmp_path / "auto" / "attention.json").read_text())["sentences"]) == 3
    every = {p.name for p in write_views(sentences, tmp_path / "all", "true")}
    assert "sentence2_heads.png" in every
    (tmp_path / "all" / "sentence_notes.txt").write_text("mine")  # not inspect's: left alone
    write_views(sentences, tmp_path / "all", "false")  # the earlier run's figures go, its own file stays
    assert not list((tmp_path / "all").glob("*.png")) and (tmp_path / "all" / "attention.html").is_file()
    assert (tmp_path / "all" / "sentence_notes.txt").read_text() == "mine"


def run_inspect(*args):
    return subprocess.run([sys.executable, "scripts/inspect_attention.py", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow  # trains a model or runs a command end to end
def test_inspect_attention_writes_png_and_html(short_run, tmp_path):
    ckpt = short_run / "checkpoints" / "last.ckpt"
    out = tmp_path / "inspect"
    result = run_inspect(f"ckpt_path={ckpt}", 'text="The zyxwv dog saw the boats ."', f"out={out}")
    assert result.returncode == 0, result.stderr
    assert "zyxwv [UNK]" in result.stdout
    assert re.search(r"→ (content|function) \(P=0\.[5-9]\d\)", result.stdout)  # the predicted class's own P
    assert (out / "sentence0_mask_map.png").stat().st_size > 5000
    assert (out / "sentence0_heads.png").stat().st_size > 5000  # four heads: one map each
    page = (out / "attention.html").read_text()
    assert "<script>" in page and "src=" not in page and "https://" not in page  # no network
    # the page shows the model's own mask map, word for word
    from attn_project.commands.inspect import classify_sentence
    from attn_project.data.text_input import InputSentence
    from attn_project.training.checkpoint import load_run

    expected = classify_sentence(load_run(ckpt), InputSentence("The zyxwv dog saw the boats .".split()))
    data = json.loads(page[page.index("const DATA = ") + 13: page.index(";\nconst ROW")])
    [shown] = data["sentences"]
    assert shown["tokens"] == expected.words and shown["unknown"] == expected.unknown
    assert shown["predictions"][-1] is None  # "." is punctuation: never a target, no prediction
    assert shown["head_names"] == ["L0H0", "L0H1", "L0H2", "L0H3"]  # heads named as the reports name them
    assert shown["predictions"][0].startswith(("content (P=", "function (P="))
    torch.testing.assert_close(torch.tensor(shown["weights"]), expected.mask_map, atol=1e-6, rtol=0)
    exported = json.loads((out / "attention.json").read_text())["sentences"][0]  # to take away
    assert exported["tokens"] == expected.words and exported["p_content"] == pytest.approx(expected.p_content)
    arrays = np.load(out / "attention.npz")
    np.testing.assert_allclose(arrays["sentence0"], expected.mask_map.numpy(), atol=1e-6)
    assert arrays["sentence0_tokens"].tolist() == expected.words

    sentence = "It's late, isn't it ?"  # commas and apostrophes: Hydra's text= would refuse them
    quoted = run_inspect(f"ckpt_path={ckpt}", "--text", sentence, f"out={tmp_path / 'quoted'}")
    assert quoted.returncode == 0, quoted.stderr
    exported = json.loads((tmp_path / "quoted" / "attention.json").read_text())["sentences"][0]
    assert exported["tokens"] == ["It's", "late", ",", "isn't", "it", "?"]  # the comma split off as a word
    from attn_project.data.conllu import read_conllu

    treebank = MINI_UD / "en_mini-ud-dev.conllu"  # a CoNLL-U file: its words and gold trees
    gold = run_inspect(f"ckpt_path={ckpt}", f"file={treebank}", f"out={tmp_path / 'gold'}")
    assert gold.returncode == 0, gold.stderr
    exported = json.loads((tmp_path / "gold" / "attention.json").read_text())["sentences"]
    assert [s["gold_heads"] for s in exported] == [s.heads for s in read_conllu(treebank)]
    assert '"gold_heads": [' in (tmp_path / "gold" / "attention.html").read_text()
    empty = run_inspect(f"ckpt_path={ckpt}", "text=   ")
    assert empty.returncode == 2 and "nothing to inspect" in empty.stderr
    missing = run_inspect(f"ckpt_path={tmp_path}/none.ckpt", "text=hello")
    assert missing.returncode == 2 and "no such file" in missing.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI") != "true",
                    reason="no chromium installed (.ci/run installs it; there a missing one fails)")
def test_html_view_draws_in_a_real_browser(tmp_path):
    from attn_project.viz.html_view import write_html

    weights = torch.softmax(torch.randn(2, 4, 4), -1).tolist()
    page = write_html(tmp_path / "view.html", [{
        "text": "the dog barks .", "tokens": ["the", "<!--<script>", "barks", "</script>"],
        "unknown": [False, False, True, False], "predictions": ["function (0.1)"] * 4,
        "weights": weights, "head_names": ["L0H0", "L0H1"]}])
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-background-networking", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-drawn="16"' in dom  # 4 × 4 attention lines drawn by the page's script
    assert dom.count("<button") == 2 and 'class="unk"' in dom and ">L0H1</button>" in dom  # heads by name
    # a deep model (2 layers × 2 heads): a layer and a head selector instead of four buttons
    deep = write_html(tmp_path / "deep.html", [{
        "text": "the dog barks .", "tokens": ["the", "dog", "barks", "."], "unknown": [False] * 4,
        "predictions": [None] * 4, "layers": 2, "weights": torch.softmax(torch.randn(4, 4, 4), -1).tolist()}])
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-background-networking", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          deep.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-drawn="16"' in dom and "<button" not in dom
    assert dom.count('<select class="layer">') == 1 and dom.count('<select class="head">') == 1
    assert dom.count("<option") == 4  # layers 0, 1 and heads 0, 1
    assert 'data-gold="0"' in dom and 'type="checkbox"' not in dom  # no tree given: no arcs
    treebank = write_html(tmp_path / "gold.html", [{  # a CoNLL-U input: its gold arcs over the weights
        "text": "the dog barks .", "tokens": ["the", "dog", "barks", "."], "unknown": [False] * 4,
        "predictions": [None] * 4, "weights": weights, "gold_heads": [1, 2, -1, 2]}])
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                          "--disable-background-networking", "--no-first-run",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                          treebank.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-gold="3"' in dom and 'class="gold"' in dom  # one arc per word but the root


def test_html_view_data_cannot_end_its_script_and_title_is_filled_once(tmp_path):
    from attn_project.viz.html_view import write_html

    hostile = ["<!--<script>", "</script><b>x</b>", "&amp;", "__TITLE__"]
    page = write_html(tmp_path / "view.html", [{"text": "t", "tokens": hostile, "unknown": [False] * 4,
                                                "predictions": ["?"] * 4, "weights": [[[0.25] * 4] * 4]}],
                      title="a __DATA__ <title>").read_text()
    script = page[page.index("<script>") + len("<script>"):]
    assert script.index("</script>") == len(script) - len("</script></body></html>\n")
    assert "<!--" not in script and "<b>" not in script
    assert "<title>a __DATA__ &lt;title&gt;</title>" in page  # the title's text is never substituted
    data = script[script.index("const DATA = ") + len("const DATA = "):script.index(";\nconst ROW")]
    assert json.loads(data)["sentences"][0]["tokens"] == hostile  # the page still reads the same data


def test_inspect_writes_into_the_run_folder_or_beside_a_loose_checkpoint(tmp_path):
    from attn_project.commands.inspect import default_output

    assert default_output(tmp_path / "run" / "checkpoints" / "last.ckpt") == tmp_path / "run" / "inspect"
    assert default_output(tmp_path / "downloads" / "model.ckpt") == tmp_path / "downloads" / "inspect"


def decode_png(png: bytes):
    import io

    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_sample_figure_frames_show_only_the_latest_values_and_their_panel_at_tensorboard_width():
    from attn_project.viz import sample_figure

    tokens = "the old man saw a dog in the internationally known park .".split()
    t, dog = len(tokens), tokens.index("dog")
    g = torch.Generator().manual_seed(0)
    first, second = (torch.softmax(torch.randn(t, t, generator=g) * 3, -1).numpy() for _ in range(2))
    mask_map, head = "mask map: row i = [MASK] at i", "head 0, 'dog' masked"

    def fresh(matrix, title, what, show_mask=False):
        figure = sample_figure.SampleFigure(tokens, masked=dog)
        return decode_png(figure.update(matrix, title, what, show_mask))

    figure = sample_figure.SampleFigure(tokens, masked=dog)
    frame_a = decode_png(figure.update(first, "sample 0 · step 0", mask_map))
    head_a = decode_png(figure.update(first, "sample 0 · step 0", head, show_mask=True))
    frame_b = decode_png(figure.update(second, "sample 0 · step 10", mask_map))
    assert frame_a.shape == frame_b.shape and frame_a.shape[1] == 290  # TensorBoard's card: not scaled
    assert 250 < frame_a.shape[0] < 330
    assert (frame_a != frame_b).any(axis=-1).mean() > 0.05  # the heat map changed
    # nothing of the earlier frame, nor of the other panel, is left behind
    assert (frame_b == fresh(second, "sample 0 · step 10", mask_map)).all()
    assert (head_a == fresh(first, "sample 0 · step 0", head, show_mask=True)).all()
    # the two panels of one matrix differ only outside the heat map: the masked word's labels
    # (the word or [MASK]) and the line saying what the panel shows
    x0, y0, x1, y1 = figure.figure.axes[0].bbox.extents.round().astype(int)
    differs = (frame_a != head_a).any(axis=-1)  # [H, W]
    height = frame_a.shape[0]
    assert differs.sum() > 50 and not differs[height - y1 + 1: height - y0 - 1, x0 + 1: x1 - 1].any()
    labels = [text for text in figure.figure.axes[0].texts if text.get_text() in [*tokens, "[MASK]"]]
    assert len(labels) == 2 * (t - 1)  # rows and columns, all but the shortened word
    assert all(text.get_fontsize() * sample_figure.DPI / 72 >= 10 for text in labels)  # ≥ 10 px tall
    assert "internati…" in [text.get_text() for text in figure.figure.axes[0].texts]


def test_jobs_starting_together_on_new_data_fit_the_baselines_once(tmp_path):
    import threading
    import time

    from attn_project.analysis.baselines import cached_baselines

    fits = []

    def fit():
        fits.append(threading.current_thread().name)
        time.sleep(0.5)  # the other job reaches the cache meanwhile
        return {"majority": {"acc": 0.5}}

    results = {}
    jobs = [threading.Thread(target=lambda n=n: results.setdefault(n, cached_baselines(tmp_path, "key", fit)),
                             name=f"job{n}") for n in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=60)
    assert len(fits) == 1  # one fitted, the other waited and read its result
    assert results == {0: {"majority": {"acc": 0.5}}, 1: {"majority": {"acc": 0.5}}}
    assert [p.name for p in tmp_path.glob("baselines-*.json")] == ["baselines-key.json"]


def test_baselines_are_cached_where_the_file_system_has_no_locks(tmp_path, monkeypatch, caplog):
    from attn_project.analysis import baselines

    class NoLocks:
        def __init__(self, path):
            pass

        def acquire(self):
            raise NotImplementedError("FileSystem does not appear to support flock")

    from attn_project.data import files

    monkeypatch.setattr(files, "FileLock", NoLocks)  # the lock every cached file shares
    first = baselines.cached_baselines(tmp_path, "key", lambda: {"majority": {"acc": 0.5}})
    again = baselines.cached_baselines(tmp_path, "key", lambda: pytest.fail("refitted"))
    assert first == again == {"majority": {"acc": 0.5}} and "no lock beside" in caplog.text


def test_baselines_are_cached_per_data_and_refit_when_the_data_change(tmp_path, monkeypatch):
    from attn_project.analysis import baselines
    from attn_project.data.datamodule import MaskedTokenDataModule

    def datamodule(**settings):
        dm = MaskedTokenDataModule(root=str(MINI_UD), corpus="ud", cache_dir=str(tmp_path), **settings)
        dm.setup()
        return dm

    fitted = baselines.datamodule_baselines(datamodule())
    assert len(list(tmp_path.glob("baselines-*.json"))) == 1

    def refit(*args, **kwargs):
        raise AssertionError("refitted although the cache holds these data")

    monkeypatch.setattr(baselines, "task_baselines", refit)
    assert baselines.datamodule_baselines(datamodule()) == fitted  # no re-tokenising either
    for other in ({"task": {"name": "upos"}}, {"lowercase": False}, {"tokenizer": "pieces"}):
        with pytest.raises(AssertionError, match="refitted"):  # other labels, words or pieces: another key
            baselines.datamodule_baselines(datamodule(**other))
    with pytest.raises(AssertionError, match="refitted"):  # another seed
        baselines.datamodule_baselines(datamodule(), seed=1)


def test_one_word_sentences_count_in_the_test_accuracy_but_not_as_attention_rows():
    from attn_project.analysis.mask_maps import analyse_split
    from attn_project.analysis.report_numbers import build_report
    from attn_project.model import MaskedTokenClassifier, ModelConfig

    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=10, d_model=8, max_len=8)).eval()
    ids = [[A, X, B], [X], [B, Y, A], [Y]]  # two one-word sentences ("Thanks", "Yes")
    labels = [[-100, 1, -100], [1], [-100, 0, -100], [0]]
    heads, rels = [[1, -1, 1], [-1], [1, -1, 1], [-1]], [[0, 1, 0], [1], [0, 1, 0], [1]]
    split = SplitTensors.build(ids, labels, heads, rels)
    rows = analyse_split(model, split)
    assert len(rows.sentence) == 2 and rows.lone_sentence.tolist() == [1, 3]  # attention rows: 2
    assert len(rows.classified()[1]) == 4
    with torch.no_grad():
        logits, _ = model.forward_all_masks(split.ids)  # [B, T, 2]
    targets = split.labels != IGNORE
    expected = float((logits.argmax(-1)[targets] == split.labels[targets]).float().mean())
    report = build_report(rows, rows, None, relations=["x", "y"], resamples=50)
    assert report.test.acc.value == pytest.approx(expected)  # all four targets, as the test loop counts
