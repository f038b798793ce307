"""The lens's source for a model trained here: the same word rows as the Hugging Face source reads
from the model exported to GPT-2 (one lens, two adapters), left context only for a causal model, and
the causal view of the scored links."""

import numpy as np
import torch

from attn_project.analysis.trained_source import TrainedSource
from attn_project.commands.lens_over_training import first_emergence, left_links_only
from attn_project.data.conllu import Sentence
from attn_project.data.running_text import train_word_tokenizer
from attn_project.model.encoder import EncoderConfig
from attn_project.model.language_model import LanguageModel

WORDS = [["the", "cat", "sat", "on", "the", "mat"], ["a", "dog", "ran"], ["the", "dog", "saw", "a", "cat"],
         ["cats", "and", "dogs", "ran", "home", "fast", "today"]]


def sentences() -> list[Sentence]:
    return [Sentence(w, ["X"] * len(w), [-1] + [0] * (len(w) - 1), ["root"] + ["dep"] * (len(w) - 1))
            for w in WORDS]


def tiny(causal: bool):
    torch.manual_seed(0)
    tokenizer = train_word_tokenizer(iter(WORDS), 40)
    model = LanguageModel(EncoderConfig(vocab_size=tokenizer.get_vocab_size(), max_len=16, d_model=16,
                                        num_heads=2, num_layers=2, dropout=0.0, causal=causal)).eval()
    return model, tokenizer


def test_the_trained_source_reads_the_same_rows_as_the_hf_source_of_its_gpt2_export(tmp_path):
    from transformers import GPT2LMHeadModel

    from attn_project.pretrained.export import export_gpt2
    from attn_project.pretrained.lens import PieceSource

    model, tokenizer = tiny(causal=True)
    export_gpt2(model, tokenizer, tmp_path / "hf")
    hf = GPT2LMHeadModel.from_pretrained(tmp_path / "hf", local_files_only=True).eval()
    ours = TrainedSource(model, tokenizer)
    theirs = PieceSource(hf, tokenizer, layers=2, max_pieces=16, pad_id=0)
    kept, _, _ = ours.encode(sentences())
    assert [i for i, _ in kept] == [i for i, _ in theirs.encode(sentences())[0]] == [0, 1, 2, 3]
    a, b = ours.word_rows([e for _, e in kept]), theirs.word_rows([e for _, e in kept])
    torch.testing.assert_close(a.weights, b.weights, atol=1e-5, rtol=1e-4)
    assert a.weights.shape == (4, 4, 7, 7) and float(a.special_share.abs().max()) < 1e-6
    right = torch.triu(torch.ones(7, 7, dtype=torch.bool), diagonal=1)
    assert float(a.weights[..., right].abs().max()) == 0.0  # no row of a causal model looks right
    rows = a.weights.sum(-1)  # each real word's row sums to one over the words
    assert torch.allclose(rows[1, :, :3], torch.ones(4, 3)) and float(rows[1, :, 3:].abs().max()) == 0


def test_the_lens_skips_sentences_longer_than_the_models_positions_and_counts_them():
    model, tokenizer = tiny(causal=False)
    long = Sentence(["the"] * 20, ["X"] * 20, [-1] + [0] * 19, ["root"] + ["dep"] * 19)
    kept, too_long, unmapped = TrainedSource(model, tokenizer).encode([*sentences(), long])
    assert len(kept) == 4 and too_long == 1 and unmapped == 0


def test_a_causal_models_view_keeps_only_links_to_its_left():
    from attn_project.analysis.rows import RowScores

    n, h = 3, 2
    rows = RowScores(sentence=np.zeros(n, int), relation=np.array([0, 1, 2]),
                     head_offset=np.array([-1, 2, -3]),
                     entropy=np.zeros((n, h)), self_share=np.zeros((n, h)), mass=np.zeros((n, h)),
                     aligned=np.zeros((n, h), bool), to_head=np.zeros((n, h), bool),
                     dependent_rel=np.full((n, h), -1), correct=np.zeros(n, bool), label=np.zeros(n, int),
                     link_row=np.zeros(0, int), link_offset=np.zeros(0, int), dep_row=np.array([0, 0, 2]),
                     dep_offset=np.array([1, -2, -1]), dep_rel=np.array([3, 4, 5]))
    left = left_links_only(rows)
    assert left.relation.tolist() == [0, -1, 2]  # the row whose head is to its right no longer counts
    assert left.dep_offset.tolist() == [-2, -1] and left.dep_rel.tolist() == [4, 5]


def test_emergence_is_the_first_checkpoint_that_beats_position_and_the_fastest_loss_drop():
    table = [{"relation": "det", "direction": "to_head", "step": s, "beats_position": s >= 100}
             for s in (0, 10, 100, 1000)]
    losses = ((0, 9.0), (10, 8.9), (100, 6.0), (1000, 5.8))
    summaries = [{"step": s, "treebank_loss": loss} for s, loss in losses]
    out = first_emergence(table, summaries)
    assert out["first_beats_position"] == {"det (to_head)": 100} and out["fastest_loss_drop_step"] == 100


def test_category_rules_name_the_nearest_word_of_a_tag_each_side_and_the_root():
    from attn_project.analysis.category_rules import RuleTargets

    sentence = Sentence(["the", "dog", "saw", "a", "cat"], ["DET", "NOUN", "VERB", "DET", "NOUN"],
                        [1, 2, -1, 4, 2], ["det", "nsubj", "root", "det", "obj"])
    both = RuleTargets([sentence], ["DET", "NOUN", "VERB"], causal=False)
    targets = both.of(0)  # [R, W]
    names = both.names
    assert targets[names.index("nearest NOUN to the right")].tolist() == [1, 4, 4, 4, -1]
    assert targets[names.index("nearest DET to the left")].tolist() == [-1, 0, 0, 0, 3]
    assert targets[names.index("the root")].tolist() == [2, 2, -1, 2, 2]
    left = RuleTargets([sentence], ["DET", "NOUN", "VERB"], causal=True)  # a causal model's: left only
    assert all("right" not in n for n in left.names)
    assert left.of(0)[left.names.index("the root")].tolist() == [-1, -1, -1, 2, 2]


def test_mean_ablation_fixes_one_heads_output_and_lifts_cleanly():
    from attn_project.analysis.head_ablation import (
        encoded,
        head_mean,
        head_slice,
        linked_words,
        mean_ablated,
        output_projection,
        scored_words,
    )

    model, tokenizer = tiny(causal=False)
    rows = encoded(tokenizer, sentences(), model.config.max_len)
    assert [i for i, _, _ in rows] == [0, 1, 2, 3]
    mean = head_mean(model, rows, layer=1, head=0)
    seen = []

    def record(_module, args):
        seen.append(args[0].clone())

    ids = torch.tensor([rows[0][1].tolist()])
    hook = output_projection(model, 1).register_forward_pre_hook(record)
    plain = model(ids)[0]
    hook.remove()
    with mean_ablated(model, 1, 0, mean):
        hook = output_projection(model, 1).register_forward_pre_hook(record)  # runs after the ablation's
        changed = model(ids)[0]
        hook.remove()
    ablated, before, other = seen[-1], seen[0], head_slice(model, 1)
    assert torch.allclose(ablated[..., head_slice(model, 0)], mean.expand(1, 6, -1))  # the head: its mean
    assert torch.allclose(ablated[..., other], before[..., other])  # the other head as it was
    assert not torch.allclose(changed, plain) and torch.equal(model(ids)[0], plain)  # lifted afterwards
    words = scored_words(model, rows, seed=0)
    assert (words.correct == scored_words(model, rows, seed=0).correct).all()  # the same masks each time
    linked = linked_words(sentences(), "root", words)  # a word is linked when it is the root
    expected = [sentences()[s].deprels[i] == "root" for s, i in zip(words.sentence, words.position)]
    assert linked.tolist() == expected


def test_a_wordpiece_language_model_is_read_one_row_per_word():
    tokenizer = train_word_tokenizer(iter(WORDS * 3), 40, kind="wordpiece")  # too few for whole words
    pieces = tokenizer.encode(["cats", "and", "dogs"], is_pretokenized=True)
    assert pieces.tokens == ["cat", "##s", "an", "##d", "dog", "##s"]
    assert pieces.word_ids == [0, 0, 1, 1, 2, 2]
    model = LanguageModel(EncoderConfig(vocab_size=tokenizer.get_vocab_size(), max_len=40, d_model=16,
                                        num_heads=2, num_layers=1, dropout=0.0)).eval()
    source = TrainedSource(model, tokenizer)
    kept, _, _ = source.encode(sentences())
    rows = source.word_rows([e for _, e in kept])
    assert rows.weights.shape[-1] == max(len(w) for w in WORDS)  # words, not pieces
    real = rows.weights.sum(-1)[3, :, :7]  # the 7-word sentence: each word's row sums to one
    assert torch.allclose(real, torch.ones_like(real), atol=1e-5)


def test_a_causal_models_ablation_falls_back_to_the_head_to_dependent_head():
    from types import SimpleNamespace

    from attn_project.commands.lens_over_training import best_entry

    entry = SimpleNamespace(best_head=5)
    causal = SimpleNamespace(per_relation={"nsubj": SimpleNamespace(best_head=None)},
                             per_relation_to_dependent={"nsubj": entry})
    assert best_entry(causal, "nsubj") == ("to_dependent", entry)  # its rows cannot reach a following head
    masked = SimpleNamespace(per_relation={"nsubj": entry}, per_relation_to_dependent={"nsubj": None})
    assert best_entry(masked, "nsubj") == ("to_head", entry)
    assert best_entry(masked, "obj") == ("to_head", None)


def test_heat_maps_outline_each_words_gold_head():
    from matplotlib.patches import Rectangle

    from attn_project.viz import plots

    fig, axes = plots.new_figure(1)
    weights = np.full((4, 4), 0.25)  # [T, T]
    plots.heatmap(axes[0], weights, list("abcd"), list("abcd"), "t", gold_heads=[1, -1, 1, 2])
    outlined = sorted((int(p.get_y()), int(p.get_x())) for p in axes[0].patches if isinstance(p, Rectangle)
                      and not p.get_fill())
    assert outlined == [(0, 1), (2, 1), (3, 2)]  # row → its head's column; the root (-1) has none
    assert "gold head" in axes[0].get_xlabel()
    fig, axes = plots.new_figure(1)
    plots.heatmap(axes[0], weights, list("abcd"), list("abcd"), "t", gold_heads=[1, 0])  # not the rows: none
    assert not [p for p in axes[0].patches if isinstance(p, Rectangle) and not p.get_fill()]
