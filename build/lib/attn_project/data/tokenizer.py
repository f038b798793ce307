"""An offline word-level ``transformers`` tokenizer, fitted on the train split only."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, trainers
from transformers import PreTrainedTokenizerFast

from attn_project.errors import DataError

PAD, UNK, MASK = "[PAD]", "[UNK]", "[MASK]"
SPECIALS = [PAD, UNK, MASK]


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
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token=PAD, unk_token=UNK, mask_token=MASK
    )


def tokenizer_from_json(text: str) -> PreTrainedTokenizerFast:
    """Rebuild a tokenizer from its JSON (as stored inside our checkpoints)."""
    return wrap_backend(Tokenizer.from_str(text))


def tokenizer_to_json(tokenizer: PreTrainedTokenizerFast) -> str:
    return tokenizer.backend_tokenizer.to_str()


def load_tokenizer(folder: str | Path) -> PreTrainedTokenizerFast:
    """``from_pretrained`` on a saved folder, with an error that names the folder when it fails."""
    folder = Path(folder)
    if not (folder / "tokenizer.json").is_file():
        raise DataError(
            f"no tokenizer at {folder}/tokenizer.json: point to the 'tokenizer' folder of a run "
            f"(written by save_pretrained) or delete the folder to refit it from the train split"
        )
    try:
        return PreTrainedTokenizerFast.from_pretrained(str(folder))
    except Exception as err:  # the library raises several types for a corrupt file
        raise DataError(
            f"tokenizer at {folder}/tokenizer.json is corrupt ({type(err).__name__}: {err}); "
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
