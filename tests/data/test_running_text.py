"""Running text for the language models: text and CoNLL-U files in any mix, bad files refused with
the file and line, a word-level tokenizer of the most frequent words, and the corpus tokenised once
into memory-mapped arrays cached by content."""

import os

import numpy as np
import pytest
import torch
from conftest import MINI_UD

from attn_project.data.running_text import (
    MAX_LINE_BYTES,
    check_files,
    corpus_sentences,
    held_out,
    tokenised_corpus,
    train_word_tokenizer,
)
from attn_project.errors import DataError

TEXT = "the cat sat on the mat .\n\nthe dog sat .\na cat ran\n"


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text(TEXT, encoding="utf-8")
    return path


def test_text_and_treebank_words_in_any_mix(text_file):
    treebank = next(MINI_UD.glob("*train.conllu"))
    sentences = list(corpus_sentences(check_files([text_file, treebank])))
    assert sentences[:3] == [["the", "cat", "sat", "on", "the", "mat", "."], ["the", "dog", "sat", "."],
                             ["a", "cat", "ran"]]  # the blank line skipped
    assert len(sentences) > 3 and all(isinstance(w, str) for w in sentences[3])


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"the cat\n\x00\x01\x02 binary\n", ":2: a NUL byte"),
    (b"ok line\n\xff\xfe not utf-8\n", ":2: not UTF-8"),
    (b"x" * (MAX_LINE_BYTES + 10), ":1: line longer than"),
])
def test_bad_text_files_name_the_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as caught:
        list(corpus_sentences(check_files([path])))
    assert "bad.txt" in str(caught.value)
    assert path.read_bytes() == content  # nothing deleted or changed


def test_missing_files_and_folders_name_the_entry(tmp_path, text_file):
    with pytest.raises(DataError, match=r"data.files\[1\].*no such file"):
        check_files([text_file, tmp_path / "nope.txt"])
    with pytest.raises(DataError, match=r"data.files\[0\].*is a folder"):
        check_files([tmp_path])
    with pytest.raises(DataError, match="data.files is empty"):
        check_files([])


def test_the_tokenizer_keeps_the_most_frequent_words_and_one_token_per_word(text_file):
    tokenizer = train_word_tokenizer(corpus_sentences([text_file]), vocab_size=6)
    vocab = tokenizer.get_vocab()
    assert [vocab[s] for s in ("[PAD]", "[UNK]", "[MASK]")] == [0, 1, 2]
    words = set(vocab) - {"[PAD]", "[UNK]", "[MASK]"}
    assert len(words) == 3 and "the" in words and words <= {"the", "cat", "sat", "."}  # seen 3, 2, 2, 2 times
    encoding = tokenizer.encode(["the", "zebra", "mat"], is_pretokenized=True)
    assert encoding.ids == [vocab["the"], 1, 1]  # unseen and rare words are [UNK], one id per word
    with pytest.raises(DataError, match="data.vocab_size=3"):
        train_word_tokenizer(corpus_sentences([text_file]), vocab_size=3)


def test_the_corpus_is_tokenised_once_into_arrays_cached_by_content(tmp_path, text_file):
    tokenizer = train_word_tokenizer(corpus_sentences([text_file]), vocab_size=50)
    cache = tmp_path / "cache"
    arrays = tokenised_corpus([text_file], tokenizer, cache)
    assert isinstance(arrays.ids, np.memmap) and arrays.ids.dtype == np.uint32
    expected = [tokenizer.encode(words, is_pretokenized=True).ids for words in corpus_sentences([text_file])]
    assert [arrays.sentence(k).tolist() for k in range(len(arrays))] == expected
    assert arrays.lengths.tolist() == [7, 4, 3]
    files = sorted(cache.iterdir())
    stamps = [os.stat(f).st_mtime_ns for f in files]
    again = tokenised_corpus([text_file], tokenizer, cache)  # read back, not written again
    assert [os.stat(f).st_mtime_ns for f in files] == stamps and len(again) == 3
    assert not list(cache.glob(".*tmp"))  # no half-written file left behind
    text_file.write_text(TEXT + "one more line\n", encoding="utf-8")
    changed = tokenised_corpus([text_file], tokenizer, cache)  # new content, new key
    assert len(changed) == 4 and len(list(cache.glob("*.ids.u32"))) == 2


def test_held_out_splits_are_disjoint_and_fixed_by_seed():
    train, dev, test = held_out(1000, 0.05, seed=1)
    assert len(dev) == len(test) == 50 and len(train) == 900
    assert not (set(train) & set(dev)) and not (set(dev) & set(test)) and not (set(train) & set(test))
    assert all(np.array_equal(a, b) for a, b in zip(held_out(1000, 0.05, 1), (train, dev, test)))
    assert not np.array_equal(held_out(1000, 0.05, 2)[1], dev)
    with pytest.raises(DataError, match="cannot give a train split"):
        held_out(2, 0.5, 0)


@pytest.mark.parametrize("objective", ["mlm", "causal"])
def test_n_gram_baselines_on_the_language_models_test_positions(tmp_path, objective):
    from attn_project.analysis.text_baselines import baselines_and_trigram_hits, scored_positions
    from attn_project.data.lm_datamodule import TextDataModule

    lines = [" ".join(["the", "cat", "sat"] if k % 2 else ["a", "dog", "ran", "home"]) for k in range(400)]
    path = tmp_path / "text.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    dm = TextDataModule(files=[str(path)], objective=objective, vocab_size=20, batch_size=8, seed=3,
                        data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    dm.setup()
    scores, _, _ = baselines_and_trigram_hits(dm)
    names = {"unigram", "left_bigram", "bigram"} if objective == "mlm" else {"unigram", "left_bigram"}
    assert set(scores) == names | {"trigram_kn"}
    words = scored_positions(dm).word
    assert len(words) == sum(int((b["labels"] != -100).sum()) for b in dm.eval_batches["test"])
    train = np.concatenate([dm.arrays.sentence(int(k)) for k in dm.splits["train"]])
    most_frequent = np.bincount(train, minlength=dm.vocab_size)[3:].argmax() + 3
    assert scores["unigram"]["acc"] == pytest.approx(float((words == most_frequent).mean()))
    # two fixed sentences: the neighbours name the word (a masked LM's both sides; a causal LM's word before)
    best = scores["bigram" if objective == "mlm" else "left_bigram"]
    assert best["acc"] > 0.95 and scores["unigram"]["acc"] < 0.5
    if objective == "mlm":  # the trigram too; a causal LM's first words are not all named by what precedes
        assert scores["trigram_kn"]["acc"] > 0.95
    assert scores["trigram_kn"]["perplexity"] < scores["unigram"]["perplexity"]


def test_ranks_see_disjoint_batches_of_the_same_epoch_with_the_same_masks(tmp_path):
    from attn_project.data.lm_datamodule import Batches, TextDataModule, shard

    path = tmp_path / "text.txt"
    lines = (" ".join(f"w{(k * j) % 17}" for j in range(2 + k % 6)) for k in range(400))
    path.write_text("\n".join(lines) + "\n")
    dm = TextDataModule(files=[str(path)], vocab_size=30, batch_size=8, seed=0, data_dir=str(tmp_path),
                        cache_dir=str(tmp_path / "cache"))
    dm.setup()
    epoch = dm.train_batches(5)
    ranks = [shard(epoch, rank, 3) for rank in range(3)]
    assert len({len(r) for r in ranks}) == 1 and len(ranks[0]) == len(epoch) // 3  # they step together
    seen = [frozenset(map(tuple, r)) for r in ranks]
    assert not (seen[0] & seen[1]) and not (seen[1] & seen[2]) and not (seen[0] & seen[2])
    whole, second = Batches(dm, epoch, 5), Batches(dm, ranks[1], 5, rank=1, world=3)
    assert torch.equal(second[2]["ids"], whole[1 + 2 * 3]["ids"])  # the epoch's batch 7: the same masks
    assert shard(epoch, 0, 1) == epoch


def test_held_out_files_are_the_dev_and_test_text_and_every_training_sentence_trains(tmp_path):
    from attn_project.data.lm_datamodule import TextDataModule

    texts = {"train": ["the cat sat", "a dog ran home"] * 40, "dev": ["the dog sat"] * 7,
             "test": ["a cat ran", "the mat"] * 5}
    paths = {}
    for name, lines in texts.items():
        paths[name] = tmp_path / f"{name}.txt"
        paths[name].write_text("\n".join(lines) + "\n", encoding="utf-8")
    dm = TextDataModule(files=[str(paths["train"])], dev_files=[str(paths["dev"])],
                        test_files=[str(paths["test"])], vocab_size=20, batch_size=8,
                        data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"))
    dm.setup()
    assert {name: len(rows) for name, rows in dm.splits.items()} == {"train": 80, "dev": 7, "test": 10}
    tested = {tuple(dm.arrays.sentence(int(k)).tolist()) for k in dm.splits["test"]}
    ids = dm.tokenizer.get_vocab()
    assert tested == {(ids["a"], ids["cat"], ids["ran"]), (ids["the"], ids["[UNK]"])}  # the test file's
    assert "mat" not in ids  # the tokenizer is the training text's alone


@pytest.mark.parametrize("given, message", [
    ({"dev_files": ["dev"]}, "data.test_files is not given"),
    ({"dev_files": ["train"], "test_files": ["dev"]}, r"data.dev_files: .*train.txt is also in data.files"),
    ({"dev_files": ["dev"], "test_files": ["missing"]}, r"data.test_files\[0\]=.*missing.txt: no such file"),
])
def test_held_out_files_refused_when_incomplete_shared_or_missing(tmp_path, given, message):
    from attn_project.data.lm_datamodule import TextDataModule
    from attn_project.errors import ConfigError

    for name in ("train", "dev"):
        (tmp_path / f"{name}.txt").write_text("the cat sat\n" * 20, encoding="utf-8")
    named = {key: [str(tmp_path / f"{name}.txt") for name in names] for key, names in given.items()}
    dm = TextDataModule(files=[str(tmp_path / "train.txt")], vocab_size=20, batch_size=8,
                        data_dir=str(tmp_path), cache_dir=str(tmp_path / "cache"), **named)
    with pytest.raises((ConfigError, DataError), match=message):
        dm.setup()
    assert not (tmp_path / "cache").exists()  # refused before anything is written
