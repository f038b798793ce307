"""The trained control with a pretrained head's rows (``model.scores=pretrained``): each masked
target's row against one copy run at a time through the whole model, the hidden word never reaching
its row, the classifier's weights being exactly the rows, and the command end to end with its cache."""

import json

import pytest
import torch
from conftest import MINI_UD
from helpers import run_cli, tiny_bert

from attn_project.data.batches import FixedRows
from attn_project.data.conllu import read_conllu
from attn_project.data.labels import IGNORE
from attn_project.errors import ConfigError
from attn_project.model import MaskedTokenClassifier, ModelConfig
from attn_project.pretrained import masked_rows
from attn_project.pretrained.lens import encode_sentences
from attn_project.pretrained.load import load_model, load_tokenizer, model_files


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    files = model_files(str(tiny_bert(tmp_path_factory.mktemp("tiny") / "bert")), 4.0)
    return files, load_model(files), load_tokenizer(files)


def targets_of(sentences):
    """Every word is a target here but the second of each sentence (a non-target keeps its own row)."""
    width = max(len(s) for s in sentences)
    labels = torch.full((len(sentences), width), IGNORE)
    for k, s in enumerate(sentences):
        labels[k, : len(s)] = 1
        labels[k, 1] = IGNORE
    return type("Split", (), {"labels": labels})()


def reference_row(model, tokenizer, tokens, word, layer, head):
    """One masked copy on its own through every layer: the mask piece's row, summed per word."""
    masked = tokens[:word] + ["[MASK]"] + tokens[word + 1:]
    encoding = tokenizer.encode(masked, is_pretokenized=True)
    mask_at = encoding.ids.index(tokenizer.token_to_id("[MASK]"))
    with torch.no_grad():
        out = model(input_ids=torch.tensor([encoding.ids]), output_attentions=True)
    row = out.attentions[layer][0, head, mask_at]  # [P]
    words = torch.zeros(len(tokens))
    for piece, w in enumerate(encoding.word_ids):
        if w is not None and not encoding.special_tokens_mask[piece]:
            words[w] += row[piece]
    return words


@pytest.mark.parametrize("layer, head", [(0, 1), (1, 0)])
def test_masked_rows_equal_each_copy_run_alone_through_the_whole_model(tiny, layer, head):
    files, model, tokenizer = tiny
    sentences = read_conllu(MINI_UD / "en_mini-ud-train.conllu")
    split = targets_of(sentences)
    rows, cost = masked_rows.masked_split_rows(
        model, tokenizer, sentences, split, layer=layer, head=head, layers=2,
        mask_id=masked_rows.mask_token_id(tokenizer, files.folder), pad_id=0, limit=64, batch_size=3)
    assert cost["copies"] == int((split.labels != IGNORE).sum()) and cost["left_on_own_rows"] == 0
    assert len(model.encoder.layer) == 2  # the layers after the chosen one are put back
    for k, sentence in enumerate(sentences):
        block = rows.block(k)  # [n, n]
        for word in range(len(sentence)):
            if word == 1:
                assert torch.equal(block[word], torch.eye(len(sentence))[word])  # not a target: itself
                continue
            expected = reference_row(model, tokenizer, sentence.tokens, word, layer, head)
            torch.testing.assert_close(block[word], expected, atol=2e-3, rtol=0)  # float16 storage
            assert 0 < float(block[word].sum()) < 1  # the specials took the rest


def test_the_hidden_word_never_reaches_its_own_row(tiny):
    files, model, tokenizer = tiny
    sentences = read_conllu(MINI_UD / "en_mini-ud-train.conllu")[:2]
    changed = [type(s)(list(s.tokens), s.upos, s.heads, s.deprels) for s in sentences]
    for s in changed:
        s.tokens[0] = "zebra" if s.tokens[0] != "zebra" else "yak"
    split = targets_of(sentences)

    def rows_of(ss):
        return masked_rows.masked_split_rows(model, tokenizer, ss, split, layer=1, head=1, layers=2,
                                             mask_id=4, pad_id=0, limit=64)[0]

    before, after = rows_of(sentences), rows_of(changed)
    for k in range(2):
        assert torch.equal(before.block(k)[0], after.block(k)[0])  # word 0's row, whatever word 0 was
        assert not torch.equal(before.block(k)[2], after.block(k)[2])  # word 2 sees word 0: its row changes
    kept, _, _ = encode_sentences(tokenizer, sentences, 64)
    assert len(kept) == 2


def test_fixed_rows_are_stored_ragged_and_batched_with_zero_padding():
    blocks = [torch.rand(n, n) for n in (3, 1, 4)]
    rows = FixedRows.stack(blocks)
    assert rows.flat.numel() == 9 + 1 + 16 and rows.flat.dtype == torch.float16
    batch = rows.batch(torch.tensor([2, 0]), 5)  # [2, 5, 5]
    torch.testing.assert_close(batch[0, :4, :4], blocks[2].half().float())
    torch.testing.assert_close(batch[1, :3, :3], blocks[0].half().float())
    assert batch[1, 3:].abs().sum() == 0 and batch[1, :, 3:].abs().sum() == 0 and batch[0, 4].abs().sum() == 0
    assert torch.equal(rows.first(2).block(1), rows.block(1))


def test_the_classifier_attends_exactly_with_the_rows_renormalised():
    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=20, d_model=8, scores="pretrained")).eval()
    ids = torch.tensor([[5, 6, 7, 8], [9, 10, 11, 0]])
    rows = torch.rand(2, 4, 4) * 0.8  # each row lacks what a model's specials took
    rows[1, :, 3] = 0.0  # padding
    with torch.no_grad():
        logits, weights = model.forward_all_masks(ids, rows=rows)
        real = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]]).bool()
        expected = rows / rows.sum(-1, keepdim=True)
        torch.testing.assert_close(weights[0, 0], expected[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(weights[1, 0, :3], expected[1, :3], atol=1e-6, rtol=0)
        for position in range(3):  # one masked copy at a time: the same logits
            masked = ids.clone()
            masked[:, position] = model.mask_id
            one, _ = model(masked, torch.full((2,), position), need_weights=False, rows=rows)
            torch.testing.assert_close(one, logits[:, position], atol=1e-5, rtol=1e-5)
    assert real.any()
    with pytest.raises(ConfigError, match="model.scores=pretrained reads a pretrained head's rows"):
        model.forward_all_masks(ids)
    with pytest.raises(ConfigError, match="model.pretrained_head='layer2'"):
        ModelConfig(vocab_size=20, scores="pretrained", pretrained_head="layer2")


@pytest.mark.slow  # trains a model or runs a command end to end
def test_a_trained_control_on_a_tiny_bert_trains_evaluates_and_reads_its_cache(tmp_path, capsys, monkeypatch):
    model = tiny_bert(tmp_path / "tiny")
    run, cache = tmp_path / "run", tmp_path / "data" / "cache"  # data.cache_dir: ${paths.data_dir}/cache
    args = ["experiment=ud_single_head_pretrained", f"data.root={MINI_UD}", f"model.pretrained_path={model}",
            "trainer.max_epochs=1", f"hydra.run.dir={run}", f"paths.data_dir={tmp_path / 'data'}",
            "callbacks.progress_bar=null"]
    code, output = run_cli("train", args, capsys)
    assert code == 0, output
    assert len(list(cache.glob("pretrained-rows-*.pt"))) == 3  # train, dev, test
    assert len(list(cache.glob("pretrained-head-*.json"))) == 1
    chosen = json.loads(next(cache.glob("pretrained-head-*.json")).read_text())["head"]
    hparams = (run / "hparams.yaml").read_text()
    assert f"pretrained_head: {chosen}" in hparams  # the head chosen on dev is recorded with the run
    report = json.loads((run / "report" / "attention_report.json").read_text())
    assert report["after"]["rows"] > 0

    def recompute(*_, **__):
        raise AssertionError("the rows were computed again instead of read from the cache")

    monkeypatch.setattr(masked_rows, "masked_split_rows", recompute)
    monkeypatch.setattr(masked_rows, "load_model", recompute)  # cached rows: the weights are never loaded
    [best] = (run / "checkpoints").glob("epoch*.ckpt")
    code, output = run_cli("eval", [f"ckpt_path={best}", f"hydra.run.dir={tmp_path / 'eval'}",
                                    f"paths.data_dir={tmp_path / 'data'}"], capsys)
    assert code == 0, output
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["test/acc"] == pytest.approx(
        json.loads((run / "metrics.json").read_text())["test/acc"])


def test_a_head_the_model_does_not_have_is_one_error_line(tmp_path, capsys):
    model = tiny_bert(tmp_path / "tiny")
    args = ["experiment=ud_single_head_pretrained", f"data.root={MINI_UD}", f"model.pretrained_path={model}",
            "model.pretrained_head=L7H0", f"hydra.run.dir={tmp_path / 'run'}",
            f"data.cache_dir={tmp_path / 'c'}"]
    code, output = run_cli("train", args, capsys)
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert code != 0 and len(errors) == 1 and "model.pretrained_head='L7H0'" in errors[0], output
    assert "L1H1" in errors[0] and "Traceback" not in output
