"""CoNLL-U reading, the generated corpus, labels, the tokenizer and the DataModule."""

import os
import subprocess
import sys
from collections import Counter

import pytest
import torch
from conftest import MINI_UD, ROOT

from attn_project.data import conllu as conllu_module
from attn_project.data import datamodule
from attn_project.data.conllu import CoNLLUError, read_conllu, read_conllu_cached
from attn_project.data.datamodule import MaskedTokenDataModule, auto_min_frequency
from attn_project.data.grammar import GENERATOR_VERSION, generate, write_corpus
from attn_project.data.labels import IGNORE, LabelMap
from attn_project.data.tokenizer import build_word_tokenizer, encode_words, load_tokenizer
from attn_project.errors import ConfigError, DataError

MINI = MINI_UD
GOOD = "1\tThe\t_\tDET\t_\t_\t2\tdet\t_\t_\n2\tdog\t_\tNOUN\t_\t_\t3\tnsubj\t_\t_\n" \
       "3\tbarks\t_\tVERB\t_\t_\t0\troot\t_\t_\n"


def write(tmp_path, text, name="x.conllu"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reader_skips_multiword_ranges_and_empty_nodes():
    sentences = read_conllu(MINI / "en_mini-ud-train.conllu")
    assert [s.tokens for s in sentences][1] == ["I", "do", "n't", "like", "cold", "soup", "."]
    assert sentences[3].tokens == ["Bob", "eats", "apples", "and", "Alice", "pears", "."]
    assert sentences[0].heads == [2, 2, 3, -1, 5, 3, 8, 8, 3, 3]  # 0-based, root = -1
    assert sentences[2].deprels[8] == "acl:relcl"


BAD_CASES = {
    # name: (bad sentence, line the error must name, message); the bad sentence starts on line 6
    "wrong column count": (GOOD.replace("2\tdet\t_\t_", "2\tdet\t_"), 7, "10 tab-separated columns"),
    "non-integer head": (GOOD.replace("\t2\tdet", "\tx\tdet"), 7, "HEAD must be an integer"),
    "head out of range": (GOOD.replace("\t2\tdet", "\t9\tdet"), 7, "out of range"),
    "no root": (GOOD.replace("\t0\troot", "\t1\troot"), 6, "0 roots"),
    "cycle": (GOOD.replace("\t3\tnsubj", "\t1\tnsubj"), 6, "cycle"),
    "duplicate ID": (GOOD.replace("2\tdog", "1\tdog"), 8, "duplicate ID 1"),
    "gap in IDs": (GOOD.replace("3\tbarks", "4\tbarks"), 9, "ID 4 where 3 was expected"),
    "IDs start at 5": (GOOD.replace("1\tThe", "5\tThe"), 7, "ID 5 where 1 was expected"),
    "ID 0": (GOOD.replace("1\tThe", "0\tThe"), 7, "ID 0: word IDs start at 1"),
    "IDs in the order 3, 1, 2": ("\n".join(GOOD.splitlines()[2:] + GOOD.splitlines()[:2]) + "\n", 7,
                                 "ID 3 where 1 was expected"),
    "empty FORM": (GOOD.replace("2\tdog", "2\t"), 8, "word 2 has an empty FORM"),
    "range past the end": (GOOD.replace("3\tbarks", "3-4\tbarks\t_\t_\t_\t_\t_\t_\t_\t_\n3\tbarks"), 9,
                           "covers words up to 4"),
    "overlapping ranges": ("1-2\tx\t_\t_\t_\t_\t_\t_\t_\t_\n" + GOOD.replace(
        "2\tdog", "2-3\ty\t_\t_\t_\t_\t_\t_\t_\t_\n2\tdog"), 9, "not overlap another range"),
    "empty node out of place": (GOOD.replace("3\tbarks", "1.1\tx\t_\t_\t_\t_\t_\t_\t_\t_\n3\tbarks"), 9,
                                "empty node 1.1 out of place"),
    "not an ID": (GOOD.replace("2\tdog", "two\tdog"), 8, "ID 'two' is not a word ID"),
    "comments only": ("# just a comment\n", 6, "comment lines with no word lines"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_reader_errors_name_file_and_line(tmp_path, case):
    text, line, message = BAD_CASES[case]
    path = write(tmp_path, "# sent_id = ok\n" + GOOD + "\n# sent_id = bad\n" + text)
    with pytest.raises(CoNLLUError, match=message) as err:
        read_conllu(path)
    assert f"{path}:{line}:" in str(err.value)
    assert "data.skip_invalid=true" in str(err.value)
    kept = read_conllu(path, skip_invalid=True)
    assert [s.tokens for s in kept] == [["The", "dog", "barks"]]


def test_reader_accepts_a_byte_order_mark_ranges_and_empty_nodes_in_place(tmp_path):
    empty_node, range_ = "1.1\tgone" + "\t_" * 8, "2-3\tdogbarks" + "\t_" * 8
    text = GOOD.replace("2\tdog", f"{empty_node}\n{range_}\n2\tdog")
    path = tmp_path / "bom.conllu"
    path.write_bytes(b"\xef\xbb\xbf# sent_id = a\n" + text.encode())
    [sentence] = read_conllu(path)
    assert sentence.tokens == ["The", "dog", "barks"] and sentence.sent_id == "a"


def test_reader_names_the_line_of_bytes_that_are_not_utf8(tmp_path):
    path = tmp_path / "latin1.conllu"
    path.write_bytes(GOOD.encode() + b"\n" + GOOD.replace("dog", "d\u00f6g").encode("latin-1"))
    with pytest.raises(CoNLLUError, match=r"latin1\.conllu:6: not UTF-8 text \(byte 0xf6"):
        read_conllu(path)


def test_a_form_with_a_space_stays_one_token(tmp_path):
    folder = tmp_path / "tb"
    sentence = ("1\tNew York\t_\tPROPN\t_\t_\t2\tnsubj\t_\t_\n2\tsleeps\t_\tVERB\t_\t_\t0\troot\t_\t_\n"
                "3\t.\t_\tPUNCT\t_\t_\t2\tpunct\t_\t_\n")
    folder.mkdir()
    for split in ("train", "dev", "test"):
        write(folder, sentence + "\n" + GOOD, f"xx_test-ud-{split}.conllu")
    dm = MaskedTokenDataModule(root=str(folder), corpus="ud")
    dm.setup()
    assert "new york" in dm.tokenizer.get_vocab()
    assert dm.tensors["train"].lengths.tolist() == [3, 3]  # not 4: labels stay on their words
    assert dm.tensors["train"].labels[0, :3].tolist() == [1, 1, IGNORE]  # PROPN, VERB, PUNCT


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(CoNLLUError, match="file not found"):
        read_conllu(tmp_path / "nope.conllu")
    with pytest.raises(CoNLLUError, match=r"empty\.conllu:1: the file holds no sentences"):
        read_conllu(write(tmp_path, "\n\n", "empty.conllu"))


def test_generator_is_deterministic_and_byte_identical(tmp_path):
    sizes = {"train": 300, "dev": 50, "test": 50}
    a = write_corpus(tmp_path / "a", sizes, seed=3)
    b = write_corpus(tmp_path / "b", sizes, seed=3)
    c = write_corpus(tmp_path / "c", sizes, seed=4)
    for split in sizes:
        assert a[split].read_bytes() == b[split].read_bytes()
    assert a["train"].read_bytes() != c["train"].read_bytes()


def is_projective(heads):
    arcs = [(min(i, h), max(i, h)) for i, h in enumerate(heads) if h >= 0]
    return not any(a < c < b < d for a, b in arcs for c, d in arcs)


def test_generated_corpus_is_rich_valid_and_projective(tmp_path):
    paths = write_corpus(tmp_path, {"train": 3000, "dev": 200, "test": 200}, seed=0)
    sentences = read_conllu(paths["train"])  # the reader checks one root and no cycles
    relations = Counter(r for s in sentences for r in s.deprels)
    tags = Counter(t for s in sentences for t in s.upos)
    assert len(relations) >= 15 and len(tags) >= 12
    for rel in ("det", "amod", "nsubj", "obj", "aux", "cop", "aux:pass", "nsubj:pass", "case",
                "nmod", "obl", "advmod", "cc", "conj", "acl:relcl", "mark", "ccomp",
                "nmod:poss", "nummod"):
        assert relations[rel] > 0, rel
    assert all(is_projective(s.heads) for s in sentences)
    assert all(s.heads.count(-1) == 1 for s in sentences)
    questions = [s for s in sentences if s.tokens[-1] == "?"]
    assert any(s.tokens[0] in ("What", "Who") for s in questions)
    # words that are content in one place and function in another
    pairs = Counter((w.lower(), t) for s in sentences for w, t in zip(s.tokens, s.upos))
    assert pairs[("have", "VERB")] + pairs[("had", "VERB")] > 0 and pairs[("have", "AUX")] > 0
    assert pairs[("will", "AUX")] > 0 and pairs[("will", "NOUN")] > 0
    assert pairs[("run", "NOUN")] + pairs[("runs", "NOUN")] > 0 and pairs[("run", "VERB")] > 0
    test_texts = {" ".join(s.tokens) for s in read_conllu(paths["test"])}
    assert not test_texts & {" ".join(s.tokens) for s in sentences}  # no train/test overlap


def test_lexicon_is_zipf_skewed():
    words = Counter(w.lower() for s in generate(2000, seed=1) for w, t in zip(s.tokens, s.upos)
                    if t == "NOUN")
    counts = [c for _, c in words.most_common()]
    assert len(counts) > 100 and counts[0] > 10 * counts[len(counts) // 2]


def test_label_map():
    labels = LabelMap()
    assert labels.labels(["NOUN", "DET", "PUNCT", "AUX", "NUM", "X"]) == [1, 0, IGNORE, 0, 1, IGNORE]
    with pytest.raises(ValueError, match="both content and function"):
        LabelMap(content=["NOUN", "DET"], function=["DET"])


def test_tokenizer_round_trip_and_save_load(tmp_path):
    tokenizer = build_word_tokenizer([["The", "dog", "barks"], ["the", "cat"]], min_frequency=1)
    ids = encode_words(tokenizer, [["The", "cat", "purrs"]])[0]
    assert tokenizer.convert_ids_to_tokens(ids) == ["the", "cat", "[UNK]"]
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.mask_token_id) == (0, 1, 2)
    tokenizer.save_pretrained(tmp_path)
    assert load_tokenizer(tmp_path).get_vocab() == tokenizer.get_vocab()
    rare = build_word_tokenizer([["the", "dog"], ["the", "cat"]], min_frequency=2)
    assert "dog" not in rare.get_vocab() and "the" in rare.get_vocab()


def mini_datamodule(**kw):
    dm = MaskedTokenDataModule(root=str(MINI), corpus="ud", batch_size=2, eval_batch_size=2, **kw)
    dm.setup()
    return dm


def test_datamodule_examples_have_one_mask_at_the_labelled_position():
    dm = mini_datamodule(batching="examples")
    seen = 0
    for batch in dm.loader("train", shuffle=True):
        masks = batch["ids"] == dm.mask_id
        assert torch.equal(masks.sum(1), torch.ones(len(masks), dtype=torch.long))
        assert torch.equal(masks.float().argmax(1), batch["mask_pos"])
        for idx, pos, label in zip(batch["index"], batch["mask_pos"], batch["labels"]):
            upos = dm.sentences["train"][idx].upos[pos]
            assert int(label) == LabelMap().label(upos) != IGNORE
        seen += len(masks)
    targets = int((dm.tensors["train"].labels != IGNORE).sum())
    assert seen == targets == 30  # 9 + 6 + 9 + 6 non-punctuation tokens


def test_datamodule_sentence_batches_pad_to_longest():
    dm = mini_datamodule()
    for batch in dm.train_dataloader():
        assert batch["ids"].shape[1] == int(batch["lengths"].max())
        pad = torch.arange(batch["ids"].shape[1])[None] >= batch["lengths"][:, None]
        assert torch.all(batch["ids"][pad] == dm.pad_id) and torch.all(batch["labels"][pad] == IGNORE)


def test_tokenizer_sees_only_the_train_split():
    dm = mini_datamodule()
    vocab = dm.tokenizer.get_vocab()
    assert "zebra" not in vocab and "children" not in vocab  # test-only and dev-only words
    assert "river" in vocab
    test_ids = dm.tensors["test"].ids
    assert (test_ids == dm.tokenizer.unk_token_id).any()


def test_max_len_drops_long_sentences():
    dm = mini_datamodule(max_len=9)
    assert all(len(s) <= 9 for s in dm.sentences["train"]) and len(dm.sentences["train"]) == 2


def test_missing_treebank_folder_says_where_and_how(tmp_path):
    dm = MaskedTokenDataModule(root=str(tmp_path / "absent"), corpus="ud")
    with pytest.raises(DataError, match="absent.*fetch_ud.py"):
        dm.setup()


def test_fetch_ud_from_local_folder(tmp_path):
    out = tmp_path / "copy"
    result = subprocess.run([sys.executable, "scripts/fetch_ud.py", "--treebank", "en_mini",
                             "--from", str(MINI), "--out", str(out)], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    for split in ("train", "dev", "test"):
        copied = out / f"en_mini-ud-{split}.conllu"
        assert copied.read_bytes() == (MINI / copied.name).read_bytes()
    missing = subprocess.run([sys.executable, "scripts/fetch_ud.py", "--treebank", "xx_none",
                              "--from", str(MINI), "--out", str(out)], cwd=ROOT,
                             capture_output=True, text=True)
    assert missing.returncode != 0 and "xx_none-ud-train.conllu" in missing.stderr


def test_generated_corpus_folder_depends_on_every_generator_input(tmp_path):
    def longest(max_len):
        dm = MaskedTokenDataModule(root=str(tmp_path), sizes={"train": 300, "dev": 30, "test": 30},
                                   max_len=max_len)
        dm.setup()
        return dm.corpus_folder(), max(len(s) for s in dm.sentences["train"])

    (short_folder, short), (long_folder, long) = longest(6), longest(40)
    assert short <= 6 < long  # the second run did not reuse the ≤ 6-token corpus
    assert short_folder != long_folder and f"v{GENERATOR_VERSION}" in long_folder.name


@pytest.mark.slow  # trains a model or runs a command end to end
def test_max_len_below_the_shortest_generated_sentence_is_refused_at_once(tmp_path):
    with pytest.raises(ConfigError, match="data.max_len=2.*at least|data.max_len=2.*>= 3"):
        MaskedTokenDataModule(root=str(tmp_path), max_len=2)
    with pytest.raises(ConfigError, match="only .* distinct sentences"):  # too few fit: no endless loop
        generate(3000, seed=0, max_len=3)


def test_parse_cache_follows_the_content_not_size_and_mtime(tmp_path, monkeypatch):
    path, cache = write(tmp_path, GOOD), tmp_path / "cache"
    stat = path.stat()
    assert read_conllu_cached(path, cache)[0].tokens == ["The", "dog", "barks"]
    path.write_text(GOOD.replace("dog", "cat"))  # edited in place: same size, mtime restored
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    assert read_conllu_cached(path, cache)[0].tokens == ["The", "cat", "barks"]
    path.write_text(GOOD.replace("\t2\tdet", "\t7\tdet"))  # now invalid: the cache must not hide it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(CoNLLUError, match="out of range"):
        read_conllu_cached(path, cache)
    path.write_text(GOOD)
    entries = set(cache.iterdir())
    monkeypatch.setattr(conllu_module, "READER_VERSION", conllu_module.READER_VERSION + 1)
    read_conllu_cached(path, cache)  # a new reader never trusts an old entry
    assert len(set(cache.iterdir()) - entries) == 1


def test_word_lists_repeat_no_word():
    from attn_project.data import grammar

    grammar.check_unique(NOUNS=grammar.NOUNS, TRANSITIVE=grammar.TRANSITIVE)  # the real lists pass
    with pytest.raises(AssertionError, match=r"NOUNS lists \['plan'\] more than once"):
        grammar.check_unique(NOUNS=grammar.NOUNS + ["plan"])
    with pytest.raises(AssertionError, match=r"TRANSITIVE lists \['visit'\]"):
        grammar.check_unique(TRANSITIVE=grammar.TRANSITIVE + [("visit", None, None)])


def test_skip_invalid_drops_bad_sentences_through_the_datamodule(tmp_path):
    import shutil

    folder = tmp_path / "tb"
    shutil.copytree(MINI, folder)
    train = folder / "en_mini-ud-train.conllu"
    text = train.read_text()
    train.write_text(text.replace("4\tsaw\t_\tVERB\t_\t_\t0\troot", "4\tsaw\t_\tVERB\t_\t_\t1\troot", 1))
    with pytest.raises(CoNLLUError, match="en_mini-ud-train.conllu:1: sentence has 0 roots"):
        MaskedTokenDataModule(root=str(folder), corpus="ud").setup()
    dm = MaskedTokenDataModule(root=str(folder), corpus="ud", skip_invalid=True)
    dm.setup()
    assert len(dm.sentences["train"]) == len(read_conllu(MINI / "en_mini-ud-train.conllu")) - 1
    assert dm.sentences["train"][0].tokens[:3] == ["I", "do", "n't"]  # the broken first one is gone


def test_fetch_ud_downloads_the_three_splits_of_a_release(tmp_path, monkeypatch):
    from attn_project.data import ud

    requested = []

    class Response:
        def __init__(self, url):
            self.url = url

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def read(self):
            return (MINI / f"en_mini-ud-{self.url.rsplit('-', 1)[1]}").read_bytes()

    def fake_urlopen(url, timeout):
        requested.append(url)
        return Response(url)

    monkeypatch.setattr(ud.urllib.request, "urlopen", fake_urlopen)
    written = ud.download_treebank("en_ewt", tmp_path / "out", tag="r2.13")
    assert [p.name for p in written] == [f"en_ewt-ud-{s}.conllu" for s in ("train", "dev", "test")]
    assert all("/UD_English-EWT/r2.13/en_ewt-ud-" in url for url in requested) and len(requested) == 3
    assert written[2].read_bytes() == (MINI / "en_mini-ud-test.conllu").read_bytes()
    with pytest.raises(ConfigError, match="--tag"):
        ud.download_treebank("en_ewt", tmp_path / "out", tag="../../x")


def test_train_limit_is_a_seeded_subsample_of_train_only():
    def subsample(seed, limit=2):
        dm = MaskedTokenDataModule(root=str(MINI), corpus="ud", train_limit=limit, seed=seed)
        dm.setup()
        return dm

    full = mini_datamodule()
    a, again, other = subsample(0), subsample(0), subsample(5)
    texts = [[" ".join(s.tokens) for s in dm.sentences["train"]] for dm in (full, a, again, other)]
    assert len(texts[1]) == 2 and texts[1] == texts[2]  # same seed, same sentences
    assert texts[1] != texts[3]  # another seed draws another subsample
    assert all(t in texts[0] for t in texts[1]) and texts[1] == [t for t in texts[0] if t in texts[1]]
    for split in ("dev", "test"):  # never cut
        assert len(a.sentences[split]) == len(full.sentences[split])
    assert len(a.tensors["train"]) == 2 and a.vocab_size < full.vocab_size  # the tokenizer saw 2 only
    assert len(subsample(0, limit=10_000).sentences["train"]) == len(full.sentences["train"])


def test_small_train_splits_repeat_within_an_epoch():
    dm = mini_datamodule()
    n = len(dm.tensors["train"])
    repeated = MaskedTokenDataModule(root=str(MINI), corpus="ud", min_epoch_sentences=3 * n + 1,
                                     batch_size=2)
    repeated.setup()
    assert repeated.passes_per_epoch() == 4
    loader = repeated.train_dataloader()
    seen = [i for batch in loader for i in batch["index"].tolist()]
    assert len(loader) == len(list(loader)) and sorted(seen) == sorted(list(range(n)) * 4)
    loader.sampler.set_epoch(1)
    assert [i for batch in loader for i in batch["index"].tolist()] != seen  # reshuffled per epoch
    assert len(repeated.val_dataloader().sampler.batches()[0]) > 0
    assert sum(len(b) for b in repeated.val_dataloader().sampler.batches()) == len(repeated.tensors["dev"])
    assert mini_datamodule().passes_per_epoch() == 1  # 0: one pass


@pytest.mark.parametrize("value", [-1, 2.5, "many"])
def test_min_epoch_sentences_must_be_a_count(value):
    with pytest.raises(ConfigError, match=f"data.min_epoch_sentences={value!r}"):
        MaskedTokenDataModule(root=str(MINI), corpus="ud", min_epoch_sentences=value)


def test_auto_min_frequency_grows_with_the_training_sentences_between_5_and_20():
    sizes = (100, 500, 999, 1000, 1500, 1999, 2000, 12544)
    assert [auto_min_frequency(n) for n in sizes] == [5, 5, 9, 10, 15, 19, 20, 20]


@pytest.mark.parametrize("rule, expected",
                         [(None, 5), ({"sentences_per_occurrence": 1, "floor": 2, "cap": 2}, 2)])
def test_min_frequency_auto_builds_the_vocabulary_of_the_resolved_count(monkeypatch, rule, expected):
    if rule:
        monkeypatch.setattr(datamodule, "AUTO_MIN_FREQUENCY", rule)
    auto, fixed, every = (MaskedTokenDataModule(root=str(MINI), corpus="ud", min_frequency=m)
                          for m in ("auto", expected, 1))
    for dm in (auto, fixed, every):
        dm.setup()
    assert auto.tokenizer.get_vocab() == fixed.tokenizer.get_vocab()
    assert auto.vocab_size < every.vocab_size  # the rule did fold rare words into [UNK]


@pytest.mark.parametrize("value", [0, 2.5, "often"])
def test_min_frequency_must_be_a_count_or_auto(value):
    with pytest.raises(ConfigError, match=f"data.min_frequency={value!r}"):
        MaskedTokenDataModule(root=str(MINI), corpus="ud", min_frequency=value)


def test_baselines_read_every_word_whatever_the_models_vocabulary():
    from attn_project.analysis.baselines import every_word_splits, task_baselines

    common, rare = (MaskedTokenDataModule(root=str(MINI), corpus="ud", min_frequency=m) for m in (1, 3))
    results = []
    for dm in (common, rare):
        dm.setup()
        train, test, vocab = every_word_splits(dm)
        assert torch.equal(train.labels, dm.tensors["train"].labels)
        results.append((train.ids, test.ids, vocab, task_baselines(train, test, vocab)))
    assert rare.vocab_size < common.vocab_size  # the models' vocabularies differ …
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    assert results[0][2:] == results[1][2:]  # … the baselines' words and scores do not


@pytest.mark.parametrize("limit", [0, -3, 2.5, "ten"])
def test_train_limit_must_be_a_positive_count(limit):
    with pytest.raises(ConfigError, match=f"data.train_limit={limit!r}"):
        MaskedTokenDataModule(root=str(MINI), corpus="ud", train_limit=limit)
