"""attn-fetch-text on a local copy: a WikiText-shaped zip checked against its MD5 and written as one
sentence a line, train/dev/test; a wrong archive, a user's folder or a bad name refused, nothing lost."""

import hashlib
import json
import subprocess
import sys
import zipfile

import pytest
from conftest import ROOT

from attn_project.data.text_corpora import paragraph_sentences

TRAIN = [" = Valkyria Chronicles = \n", " \n",
         " The game 's battle system , the BliTZ system , is carried over . It costs 1 @,@ 000 yen . \n",
         " = = Plot = = \n", " A well @-@ known tale ? \" Yes \" , he said . \n"]


def wikitext_zip(path, folder="wikitext-2-raw"):
    with zipfile.ZipFile(path, "w") as zipped:
        zipped.writestr(f"{folder}/wiki.train.raw", "".join(TRAIN))
        zipped.writestr(f"{folder}/wiki.valid.raw", " The dev line . \n")
        zipped.writestr(f"{folder}/wiki.test.raw", " The test line . Another one . \n")
    return path, hashlib.md5(path.read_bytes()).hexdigest()


def fetch(*args):
    return subprocess.run([sys.executable, "scripts/fetch_text.py", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_paragraphs_become_sentences_with_wikitexts_marks_joined():
    assert list(paragraph_sentences(TRAIN[2])) == [
        "The game 's battle system , the BliTZ system , is carried over .", "It costs 1,000 yen ."]
    assert list(paragraph_sentences(TRAIN[4])) == ["A well-known tale ?", "\" Yes \" , he said ."]
    assert list(paragraph_sentences(TRAIN[0])) == list(paragraph_sentences(TRAIN[3])) == []
    assert list(paragraph_sentences(" \n")) == []


@pytest.mark.parametrize("how", ["from", "url"])
def test_a_local_copy_is_checked_and_written_as_three_text_files(tmp_path, how):
    archive, md5 = wikitext_zip(tmp_path / "w.zip")
    source = ["--from", archive] if how == "from" else ["--url", archive.as_uri()]
    out = tmp_path / "text" / "wt2"
    result = fetch("--corpus", "wikitext-2", "--out", out, *source, "--md5", md5)
    assert result.returncode == 0, result.stderr[-2000:]
    assert (out / "train.txt").read_text().splitlines() == [
        "The game 's battle system , the BliTZ system , is carried over .", "It costs 1,000 yen .",
        "A well-known tale ?", "\" Yes \" , he said ."]
    assert (out / "test.txt").read_text() == "The test line .\nAnother one .\n"
    manifest = json.loads((out / "SOURCE.json").read_text())
    assert manifest["md5"] == md5 and manifest["sentences"] == {"train": 4, "dev": 1, "test": 2}
    assert "data.test_files=[" in result.stdout
    assert sorted(p.name for p in out.parent.iterdir()) == ["wt2"]  # no partial folder left


def test_the_published_md5_refuses_another_archive_and_writes_nothing(tmp_path):
    archive, _ = wikitext_zip(tmp_path / "w.zip")
    result = fetch("--corpus", "wikitext-2", "--out", tmp_path / "out", "--from", archive)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "expected f407a2d53283fc4a49bcff21bc5f3770" in result.stderr  # the published one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.zip"]


def test_a_users_folder_is_never_written_and_an_earlier_fetch_is_replaced_whole(tmp_path):
    archive, md5 = wikitext_zip(tmp_path / "w.zip")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    result = fetch("--corpus", "wikitext-2", "--out", mine, "--from", archive, "--md5", md5)
    assert result.returncode == 1 and "not an earlier attn-fetch-text folder" in result.stderr
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    out = tmp_path / "wt2"
    for _ in range(2):  # again: the earlier fetch replaced by the new one
        again = fetch("--corpus", "wikitext-2", "--out", out, "--from", archive, "--md5", md5.upper())
        assert again.returncode == 0, again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["SOURCE.json", "dev.txt", "test.txt", "train.txt"]
    assert json.loads((out / "SOURCE.json").read_text())["url"] is None  # read from a file, not a URL
    (out / "my_notes.txt").write_text("added by hand")  # an earlier fetch with a file of the user's
    result = fetch("--corpus", "wikitext-2", "--out", out, "--from", archive, "--md5", md5)
    assert result.returncode == 1 and (out / "my_notes.txt").read_text() == "added by hand"
    (out / "my_notes.txt").unlink()
    (mine / "SOURCE.json").write_text("{}")  # a manifest that is not ours: still the user's folder
    assert fetch("--corpus", "wikitext-2", "--out", mine, "--from", archive, "--md5", md5).returncode == 1
    assert sorted(p.name for p in mine.iterdir()) == ["SOURCE.json", "notes.txt"]


@pytest.mark.parametrize("args, message", [
    (["--corpus", "c4"], "--corpus 'c4': choose one of"),
    (["--url", "ftp://example.org/w.zip"], "give an https, http or file URL"),
    (["--from", "absent.zip"], "--from absent.zip: no such file"),
])
def test_bad_names_get_one_line(tmp_path, args, message):
    result = fetch("--out", tmp_path / "out", *args)
    assert result.returncode == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_archive_without_the_corpus_members_is_named(tmp_path):
    archive, md5 = wikitext_zip(tmp_path / "w.zip", folder="other")
    result = fetch("--corpus", "wikitext-2", "--out", tmp_path / "out", "--from", archive, "--md5", md5)
    assert result.returncode == 1 and "not a wikitext-2-raw archive" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_failed_swap_puts_the_earlier_fetch_back(tmp_path, monkeypatch):
    from pathlib import Path

    from attn_project.data.text_corpora import replace_whole

    out, built, aside = tmp_path / "out", tmp_path / "built", tmp_path / "aside"
    out.mkdir()
    (out / "train.txt").write_text("earlier")
    built.mkdir()
    real_rename = Path.rename

    def failing(self, target):
        if self == built:
            raise OSError("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(OSError, match="disk full"):
        replace_whole(out, built, aside)
    assert (out / "train.txt").read_text() == "earlier" and not aside.exists()
