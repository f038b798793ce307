"""An offline word-level ``transformers`` tokenizer, fitted on the train split only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, trainers
from transformers import PreTrainedTokenizerFast

from attn_project.errors import DataError

PAD, UNK, MASK = "[PAD]", "[UNK]", "[MASK]"
SPECIALS = [PAD, UNK, MASK]
MAX_TOKENIZER_BYTES = 256 * 1024 * 1024


def build_word_tokenizer(
    sentences: Iterable[Sequence[str]], lowercase: bool = True, min_frequency: int = 1
) -> PreTrainedTokenizerFast:
    """One id per word seen at least ``min_frequency`` times; [PAD]=0, [UNK]=1, [MASK]=2.

    Words come pre-split (the treebank's FORMs) and no pre-tokenizer splits them again: a FORM
    with a space in it ("New York", allowed in UD) stays one token, so labels never shift.
    """
    backend = Tokenizer(models.WordLevel(unk_token=UNK))
    if lowercase:
        backend.normalizer = normalizers.Lowercase()
    trainer = trainers.WordLevelTrainer(special_tokens=SPECIALS, min_frequency=min_frequency)
    backend.train_from_iterator((word for words in sentences for word in words), trainer=trainer)
    return wrap_backend(backend)


def wrap_backend(backend: Tokenizer) -> PreTrainedTokenizerFast:
    """The ``transformers`` tokenizer around a backend that holds [PAD], [UNK] and [MASK]."""
    missing = [token for token in SPECIALS if backend.token_to_id(token) is None]
    if missing:
        raise ValueError(f"its vocabulary lacks the special token(s) {missing}")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, unk_token=UNK, mask_token=MASK
    )


def tokenizer_from_json(text: str) -> PreTrainedTokenizerFast:
    """Rebuild a tokenizer from its JSON (as stored inside our checkpoints)."""
    return wrap_backend(Tokenizer.from_str(text))


def tokenizer_to_json(tokenizer: PreTrainedTokenizerFast) -> str:
    return tokenizer.backend_tokenizer.to_str()


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    """The tokenizer saved in a run's ``tokenizer/`` folder, from its ``tokenizer.json`` alone.

    The folder may have been handed over by someone else: nothing else in it is read (no
    ``tokenizer_config.json``, no ``auto_map``, no Python file), so it cannot name code to run.
    The JSON is plain data for the ``tokenizers`` library; a broken one ends in one ``DataError``.
    """
    path = Path(folder) / "tokenizer.json"
    if not path.is_file():
        raise DataError(
            f"no tokenizer at {path}: point to the 'tokenizer' folder of a run "
            f"(written by save_pretrained) or delete the folder to refit it from the train split"
        )
    if path.stat().st_size > MAX_TOKENIZER_BYTES:
        raise DataError(f"tokenizer at {path} is larger than {MAX_TOKENIZER_BYTES:,} bytes; a word "
                        f"vocabulary of this project is a few MB")
    try:
        return wrap_backend(Tokenizer.from_file(str(path)))
    except Exception as err:  # the tokenizers library raises Exception for a malformed file
        raise DataError(
            f"tokenizer at {path} is corrupt ({type(err).__name__}: {err}); "
            f"delete that folder and rerun to refit it from the train split"
        ) from err


def encode_words(tokenizer: PreTrainedTokenizerFast, sentences: Sequence[Sequence[str]]) -> list[list[int]]:
    """Word-level ids, one per word (the fast tokenizer's Rust backend does the lookup in a batch)."""
    if not sentences:
        return []
    encodings = tokenizer.backend_tokenizer.encode_batch(
        [list(words) for words in sentences], is_pretokenized=True, add_special_tokens=False)
    for words, encoding in zip(sentences, encodings):
        if len(encoding.ids) != len(words):  # a tokenizer with a pre-tokenizer split a word
            raise DataError(f"the tokenizer split the words {list(words)} into {len(encoding.ids)} "
                            f"tokens; use a word-level tokenizer without a pre-tokenizer (refit it "
                            f"with data.tokenizer_path=null)")
    return [encoding.ids for encoding in encodings]
