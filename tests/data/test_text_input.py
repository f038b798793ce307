"""What the inspect commands read: typed sentences split into words, or a treebank's sentences with
their gold trees (long ones skipped and counted, since a treebank is read whole)."""

import shutil

import pytest
from conftest import MINI_UD

from attn_project.data.conllu import read_conllu
from attn_project.data.text_input import InputSentence, fitting, read_inputs
from attn_project.errors import ConfigError


def test_a_treebank_file_of_either_suffix_gives_its_words_and_gold_heads(tmp_path):
    source = MINI_UD / "en_mini-ud-dev.conllu"
    shutil.copyfile(source, tmp_path / "dev.CONLL")
    read = read_inputs(None, str(tmp_path / "dev.CONLL"))
    gold = read_conllu(source)
    assert [s.words for s in read] == [s.tokens for s in gold]
    assert [s.gold_heads for s in read] == [s.heads for s in gold]
    typed = read_inputs("The old man the boats.", None)
    assert typed == [InputSentence(["The", "old", "man", "the", "boats", "."])]


def test_long_treebank_sentences_are_skipped_and_counted_typed_ones_kept(capsys):
    treebank = [InputSentence(["a"] * 3, [-1, 0, 0]), InputSentence(["b"] * 10, [-1] + [0] * 9)]
    kept = fitting(treebank, lambda s: len(s.words) <= 5, "5 words")
    assert kept == treebank[:1]
    assert "skipped 1 of 2 treebank sentences longer than 5 words" in capsys.readouterr().out
    typed = [InputSentence(["b"] * 10)]
    assert fitting(typed, lambda s: False, "5 words") == typed  # the model refuses it, never cuts it
    with pytest.raises(ConfigError, match="every sentence is longer than 5 words"):
        fitting(treebank[1:], lambda s: len(s.words) <= 5, "5 words")
