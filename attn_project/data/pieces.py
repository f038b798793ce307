"""Word vectors from subword pieces (``data.tokenizer=pieces``): a WordPiece vocabulary fitted on
the train split's words only, and each word's pieces beside its word id.

The model still attends over words: position t holds ``[word id, piece 1, …, piece P]``
(``ids`` of shape ``[B, T, 1 + P]``), and the embedding adds the mean of the pieces' vectors to the
word's own (``embeddings.TokenAndPositionEmbedding``). A word that is [UNK] at word level (rare,
as most Finnish or Turkish forms are) still brings its pieces — the suffixes that carry what
English says with function words. Masking a word sets all 1 + P ids to [MASK]: its pieces are
hidden with it. Words longer than P pieces keep their first piece and their last P − 1 (the stem's
start and the endings).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from attn_project.data.tokenizer import MAX_TOKENIZER_BYTES, PAD, SPECIALS, encode_words
from attn_project.errors import DataError

PIECES_FILE = "pieces.json"  # beside tokenizer.json in a run's tokenizer/ folder
PREFIX = "##"  # WordPiece's mark of a piece that continues a word


def build_piece_tokenizer(sentences: Iterable[Sequence[str]], vocab_size: int,
                          lowercase: bool = True) -> Tokenizer:
    """A WordPiece vocabulary of at most ``vocab_size`` pieces over the given (train) words;
    [PAD]=0, [UNK]=1, [MASK]=2 as in the word vocabulary, the other pieces in sorted order (the
    trainer numbers them in an order that changes from run to run)."""
    backend = Tokenizer(wordpiece())
    if lowercase:
        backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()  # a FORM with a space: pieces of each part
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIALS,
                                        continuing_subword_prefix=PREFIX, show_progress=False)
    backend.train_from_iterator((word for words in sentences for word in words), trainer=trainer)
    pieces = sorted(set(backend.get_vocab()) - set(SPECIALS))
    backend.model = wordpiece({piece: i for i, piece in enumerate([*SPECIALS, *pieces])})
    check_specials(backend)
    return backend


def wordpiece(vocab: dict[str, int] | None = None) -> models.WordPiece:
    return models.WordPiece(vocab=vocab, unk_token=SPECIALS[1], continuing_subword_prefix=PREFIX,
                            max_input_chars_per_word=100)


def check_specials(backend: Tokenizer) -> None:
    ids = [backend.token_to_id(token) for token in SPECIALS]
    if ids != [0, 1, 2]:
        raise DataError(f"a piece vocabulary must hold {SPECIALS} as ids 0, 1, 2; this one has {ids}")


def piece_tokenizer_from_json(text: str) -> Tokenizer:
    backend = Tokenizer.from_str(text)
    check_specials(backend)
    return backend


def load_piece_tokenizer(folder: str | Path) -> Tokenizer:
    """The piece vocabulary saved in a run's ``tokenizer/`` folder (``pieces.json``), read as plain
    data like ``tokenizer.json`` (``tokenizer.load_tokenizer``); a missing or broken one is one error."""
    path = Path(folder) / PIECES_FILE
    if not path.is_file():
        raise DataError(f"no piece vocabulary at {path}: data.tokenizer=pieces needs the tokenizer folder "
                        f"of a run trained with pieces, or data.tokenizer_path=null to fit one")
    if path.stat().st_size > MAX_TOKENIZER_BYTES:
        raise DataError(f"piece vocabulary at {path} is larger than {MAX_TOKENIZER_BYTES:,} bytes")
    try:
        return piece_tokenizer_from_json(path.read_text(encoding="utf-8"))
    except DataError:
        raise
    except Exception as err:  # the tokenizers library raises Exception for a malformed file
        raise DataError(f"piece vocabulary at {path} is corrupt ({type(err).__name__}: {err})") from err


def word_pieces(backend: Tokenizer, sentences: Sequence[Sequence[str]], max_pieces: int
                ) -> list[list[list[int]]]:
    """Per sentence, per word: exactly ``max_pieces`` piece ids (padded with [PAD]; a longer word
    keeps its first piece and its last ``max_pieces`` − 1)."""
    pad = SPECIALS.index(PAD)  # 0: check_specials
    out = []
    for words in sentences:
        encoding = backend.encode(list(words), is_pretokenized=True, add_special_tokens=False)
        per_word: list[list[int]] = [[] for _ in words]
        for piece, word in zip(encoding.ids, encoding.word_ids, strict=True):
            if word is not None:
                per_word[word].append(piece)
        out.append([fit(pieces, max_pieces, pad) for pieces in per_word])
    return out


def fit(pieces: list[int], max_pieces: int, pad: int) -> list[int]:
    """Exactly ``max_pieces`` ids: padded, or the first piece and the last ``max_pieces`` − 1."""
    if len(pieces) > max_pieces:
        pieces = pieces[:1] + pieces[len(pieces) - (max_pieces - 1):]
    return pieces + [pad] * (max_pieces - len(pieces))


def with_pieces(word_ids: list[list[int]], pieces: list[list[list[int]]]) -> list[list[list[int]]]:
    """Per sentence, per word: ``[word id, piece 1, …, piece P]``."""
    return [[[word, *word_piece_ids] for word, word_piece_ids in zip(words, sentence, strict=True)]
            for words, sentence in zip(word_ids, pieces, strict=True)]


def encode(tokenizer: PreTrainedTokenizerFast, pieces: Tokenizer | None, sentences: Sequence[Sequence[str]],
           max_pieces: int) -> list[list]:
    """Word ids per word; with a piece vocabulary ``[word id, piece 1, …, piece P]`` per word."""
    words = encode_words(tokenizer, sentences)
    return words if pieces is None else with_pieces(words, word_pieces(pieces, sentences, max_pieces))


def pieces_of(backend: Tokenizer, word: str) -> list[str]:
    """The pieces of one word as text (``talo ##ssa``), for the guide and the inspect view."""
    return backend.encode([word], is_pretokenized=True, add_special_tokens=False).tokens
