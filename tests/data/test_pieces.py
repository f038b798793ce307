"""Word vectors from subword pieces (``data.tokenizer=pieces``): the vocabulary comes from the
train split only, equal pieces give equal vectors, a masked word hides its pieces, and a run with
pieces trains, checkpoints, evaluates and inspects on a morphologically rich fixture."""

import json
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, compose_cfg

from attn_project.data.batches import ExampleBatches
from attn_project.data.datamodule import MaskedTokenDataModule
from attn_project.data.pieces import fit, pieces_of, word_pieces
from attn_project.model import MaskedTokenClassifier, ModelConfig
from attn_project.model.embeddings import TokenAndPositionEmbedding

TR_MINI = ROOT / "tests" / "fixtures" / "tr_mini"


@pytest.fixture(scope="module")
def turkish(tmp_path_factory):
    """The Turkish fixture with pieces, a vocabulary large enough to hold every merge it can make."""
    dm = MaskedTokenDataModule(root=str(TR_MINI), corpus="ud", tokenizer="pieces", piece_vocab_size=5000,
                               max_pieces=3, max_len=64, cache_dir=str(tmp_path_factory.mktemp("cache")))
    dm.setup()
    return dm


def test_the_piece_vocabulary_is_fitted_on_the_train_split_only(turkish):
    train_words = {w.lower() for s in turkish.sentences["train"] for w in s.tokens}
    pieces = set(turkish.pieces.get_vocab()) - {"[PAD]", "[UNK]", "[MASK]"}
    assert all(any(p.removeprefix("##") in w for w in train_words) for p in pieces)  # all from train words
    unseen = sorted({w.lower() for s in turkish.sentences["test"] for w in s.tokens} - train_words)
    assert unseen  # the fixture's test split has words its train split lacks …
    assert not any(w in turkish.pieces.get_vocab() and len(w) > 3 for w in unseen)  # … and none is a piece


def test_each_word_holds_its_id_and_exactly_max_pieces_pieces(turkish):
    ids = turkish.tensors["train"].ids  # [N, L, 1 + P]
    assert ids.dim() == 3 and ids.size(-1) == 1 + 3
    first = turkish.sentences["train"][0].tokens
    expected = word_pieces(turkish.pieces, [first], 3)[0]
    assert ids[0, : len(first), 1:].tolist() == expected
    assert fit([5, 6, 7, 8, 9], 3, 0) == [5, 8, 9]  # a long word: its first piece and its endings
    assert fit([5], 3, 0) == [5, 0, 0]


def test_words_with_the_same_pieces_get_the_same_vector():
    embed = TokenAndPositionEmbedding(10, 8, max_len=4, padding_idx=0, piece_vocab_size=20)
    unk = 1
    ids = torch.tensor([[[unk, 5, 6, 0], [unk, 6, 5, 0], [unk, 5, 7, 0], [unk, 5, 6, 6]]])  # [1, 4, 1 + 3]
    x = embed(ids) - embed.position(4)  # [1, 4, d]: the words' own vectors
    torch.testing.assert_close(x[0, 0], x[0, 1])  # the same pieces (the mean ignores their order)
    assert not torch.allclose(x[0, 0], x[0, 2])  # other pieces: another vector
    expected = embed.token.weight[unk] + embed.piece.weight[[5, 6, 6]].mean(0)
    torch.testing.assert_close(x[0, 3], expected)  # [PAD] pieces are left out of the mean


def test_a_masked_word_hides_all_its_pieces(turkish):
    batch = ExampleBatches(turkish.tensors["train"], turkish.mask_id)[[0, 1, 2]]
    rows = torch.arange(3)
    assert (batch["ids"][rows, batch["mask_pos"]] == turkish.mask_id).all()  # word id and every piece
    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=turkish.vocab_size, d_model=16,
                                              piece_vocab_size=turkish.piece_vocab_size)).eval()
    unmasked = turkish.tensors["train"].ids[batch["index"], : batch["ids"].size(1)]
    with torch.no_grad():
        one, _ = model(batch["ids"], batch["mask_pos"], need_weights=False)
        every, _ = model.forward_all_masks(unmasked)  # the [MASK] vector built from the embedding
    torch.testing.assert_close(one, every[rows, batch["mask_pos"]], atol=1e-5, rtol=1e-5)


def test_the_guide_shows_a_words_pieces(tmp_path):
    from attn_project.commands.guide import EXAMPLES, GuideInputs, tokenization

    inputs = GuideInputs.build(EXAMPLES, 16, 2, pieces=True)
    text, _ = tokenization(inputs)
    words = {w for sentence in inputs.words for w in sentence}
    split = {w: pieces_of(inputs.pieces, w) for w in words}
    assert all("".join(p.removeprefix("##") for p in pieces) == w for w, pieces in split.items())
    assert sum(len(pieces) > 1 for pieces in split.values()) >= len(words) // 2  # most words in pieces
    assert all(f"{w}=[{' '.join(pieces)}]" in text for w, pieces in split.items())


def run(script, *args):
    return subprocess.run([sys.executable, f"scripts/{script}.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow  # trains a model or runs a command end to end
def test_a_run_with_pieces_trains_checkpoints_evaluates_and_inspects(tmp_path, data_dir):
    from attn_project.commands.train import train
    from attn_project.training.checkpoint import load_run

    cfg = compose_cfg(tmp_path, data_dir, "experiment=ud_single_head", f"data.root={TR_MINI}",
                      "data.tokenizer=pieces", "data.piece_vocab_size=300", "trainer.max_epochs=2",
                      "callbacks.progress_bar=null", "callbacks.attention_heatmaps.every_n_epochs=2")
    _, metrics = train(cfg)
    run_dir = tmp_path / "run"
    assert (run_dir / "tokenizer" / "pieces.json").is_file()
    report = json.loads((run_dir / "report" / "attention_report.json").read_text())
    assert {"bigram_pieces", "bag_of_pieces", "bigram"} <= set(report["baselines"])  # fair and word-level
    assert {"untrained", "uniform"} <= set(report["interventions"]) and "effective" in report  # one head
    assert not any(name.startswith("uniform_head") for name in report["interventions"])
    last = run_dir / "checkpoints" / "last.ckpt"
    loaded = load_run(last)
    assert loaded.pieces is not None
    assert loaded.pieces.get_vocab_size() == loaded.module.model.config.piece_vocab_size
    evaluated = run("eval", f"ckpt_path={last}", f"hydra.run.dir={tmp_path}/eval")
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["test/acc"] >= 0  # it scored
    inspected = run("inspect_attention", f"ckpt_path={last}", "text='Küçükler okullarından geldiler .'",
                    f"out={tmp_path}/view")
    assert inspected.returncode == 0, inspected.stderr[-2000:]
    assert "Küçükler" in inspected.stdout and (tmp_path / "view" / "attention.html").is_file()
    broken_pieces_are_one_error(last, tmp_path)


def broken_pieces_are_one_error(checkpoint_path, tmp_path):
    """A checkpoint whose piece vocabulary is missing, malformed or from another run: refused."""
    from attn_project.data.pieces import build_piece_tokenizer
    from attn_project.training.checkpoint import CheckpointError, load_run

    other = build_piece_tokenizer([["a", "b", "ab"]], 50).to_str()
    for edit, message in ((lambda c: c.pop("pieces_json"), "no 'pieces_json'"),
                          (lambda c: c.update(pieces_json="{not json"), "piece vocabulary is malformed"),
                          (lambda c: c.update(pieces_json=other), "come from different runs")):
        checkpoint = torch.load(checkpoint_path, weights_only=True)
        edit(checkpoint)
        torch.save(checkpoint, tmp_path / "edited.ckpt")
        with pytest.raises(CheckpointError, match=message):
            load_run(tmp_path / "edited.ckpt")
