"""Interventions on the trained attention: each rule against a slow reference (one masked pass
per position, the row replaced by hand), learned = the model's own accuracy, and the report keys."""

import pytest
import torch

from attn_project.analysis import interventions as iv
from attn_project.data.batches import SentenceBatches, SplitTensors
from attn_project.model import MaskedTokenClassifier, ModelConfig

OPTIONS = [{}, {"num_heads": 2}, {"residual": True, "layer_norm": True, "feed_forward": True},
           {"num_heads": 2, "relative_bias": True, "residual": True}, {"directional_values": True}]


def toy_split(seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = [5, 3, 1, 6]
    ids = [torch.randint(3, 20, (n,), generator=g).tolist() for n in lengths]
    heads = [[1, -1, 1, 4, 1], [-1, 0, 0], [-1], [2, 2, -1, 2, 5, 2]]
    labels = [[k % 2 for k in range(n)] for n in lengths]
    return SplitTensors.build(ids, labels, heads, [[0] * n for n in lengths], [[False] * n for n in lengths])


def reference_logits(model, ids, rows):
    """Slow: the sentence with word i masked, one pass per i, the [MASK]'s row set to ``rows[i]``."""
    out = []
    for i in range(len(ids)):
        masked = ids.clone()
        masked[i] = model.mask_id
        x = model.embed(masked[None])  # [1, T, d]
        att = model.attention
        if model.config.directional_values:  # each side's words through its own W_V
            w, j = rows[0, i], torch.arange(len(ids))  # [T]
            attended = ((w * (j < i)) @ att.w_v_left(x[0]) + (w * (j > i)) @ att.w_v_right(x[0])
                        + w[i] * att.w_v(x[0, i]))
        elif model.num_heads == 1:
            attended = rows[0, i] @ att.w_v(x[0])  # [d]
        else:
            v = att.split_heads(att.w_v(x))[0]  # [H, T, d_head]
            per_head = torch.einsum("ht,htd->hd", rows[:, i], v)  # [H, d_head]
            attended = att.w_o(per_head.reshape(-1))
        h = model.block(x[:, i], attended[None])  # [1, d]
        out.append(model.classifier(h)[0])
    return torch.stack(out)  # [T, C]


@pytest.mark.parametrize("options", OPTIONS, ids=str)
@pytest.mark.parametrize("rule", ["uniform", "self", "offset-1", "offset+2", "gold_head",
                                  "gold_neighbourhood"])
def test_every_rule_matches_one_masked_pass_per_position(options, rule):
    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=20, d_model=16, **options)).eval()
    split = toy_split()
    rules = {"uniform": iv.fixed("uniform"), "self": iv.fixed("self"), "offset-1": iv.fixed("offset", -1),
             "offset+2": iv.fixed("offset", 2), "gold_head": iv.fixed("gold_head"),
             "gold_neighbourhood": iv.fixed("gold_neighbourhood")}
    batch = SentenceBatches(split)[list(range(len(split)))]
    batch["heads"] = split.heads[:, : batch["ids"].size(1)]
    seen = {}

    def replace(weights):
        seen["rows"] = rules[rule](weights, batch)
        return seen["rows"]

    with torch.no_grad():
        fast, _ = model.forward_all_masks(batch["ids"], replace_weights=replace)  # [B, T, C]
        for s in range(len(split)):
            n = int(split.lengths[s])
            rows = seen["rows"][s, :, :n, :n]  # [H, T, T]
            torch.testing.assert_close(rows.sum(-1), torch.ones_like(rows.sum(-1)))  # each row a distribution
            assert (seen["rows"][s, :, :n, n:] == 0).all()  # never on padding
            torch.testing.assert_close(fast[s, :n], reference_logits(model, split.ids[s, :n], rows),
                                       atol=1e-5, rtol=1e-5)


def test_rules_put_weight_where_they_say():
    split = toy_split()
    batch = SentenceBatches(split)[[0]]
    batch["heads"] = split.heads[:1, :5]
    weights = torch.full((1, 1, 5, 5), 0.2)
    assert iv.fixed("gold_head")(weights, batch)[0, 0].argmax(-1).tolist() == [1, 1, 1, 4, 1]  # root: itself
    assert iv.fixed("offset", -1)(weights, batch)[0, 0].argmax(-1).tolist() == [0, 0, 1, 2, 3]  # edge: itself
    neighbourhood = iv.fixed("gold_neighbourhood")(weights, batch)[0, 0]
    assert neighbourhood[1].nonzero().flatten().tolist() == [0, 2, 4]  # the root's dependents
    assert neighbourhood[3].nonzero().flatten().tolist() == [4]  # its head (it has no dependents)
    torch.testing.assert_close(iv.fixed("uniform")(weights, batch)[0, 0], torch.full((5, 5), 0.2))
    assert ((iv.fixed("gold_head")(weights, batch)[0, 0] == 1).sum(-1) == 1).all()  # one-hot, exactly


def test_uniform_reads_the_mean_of_the_values():
    torch.manual_seed(1)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=20, d_model=16)).eval()
    split = toy_split()
    ids = split.ids[:1, :5]
    x = model.embed(ids)
    x_mask = model.embed.masked(model.mask_id, 5)[None]
    batch = {"ids": ids, "lengths": split.lengths[:1]}
    with torch.no_grad():
        uniform = iv.fixed("uniform")
        out, _ = model.attention.forward_mask_rows(x, x_mask, replace_weights=lambda w: uniform(w, batch))
        v = model.attention.w_v(x)[0]  # [T, d]
        for i in range(5):
            values = torch.cat([v[:i], model.attention.w_v(x_mask)[0, i:i + 1], v[i + 1:]])
            torch.testing.assert_close(out[0, i], values.mean(0), atol=1e-6, rtol=1e-6)


def test_learned_is_the_models_own_accuracy_and_every_rule_is_reported():
    torch.manual_seed(0)
    model = MaskedTokenClassifier(ModelConfig(vocab_size=20, d_model=16, num_heads=2)).eval()
    split = toy_split()
    typed = iv.interventions(model, split, best_offset=-1, class_names=["function", "content"], resamples=50)
    table = {name: row.to_json() for name, row in typed.items()}  # as the report's JSON holds them
    assert set(table) == {"learned", "uniform", "best_offset", "gold_head", "gold_neighbourhood", "self",
                          "uniform_head0", "uniform_head1"}
    _, predicted, label = iv.predictions(model, split, None)
    assert table["learned"]["acc"] == pytest.approx((predicted == label).mean())
    assert table["learned"]["delta"] == 0
    for name, row in table.items():
        assert {"acc", "acc_ci95", "balanced_acc", "delta", "delta_ci95"} <= set(row), name
    assert table["best_offset"]["offset"] == "-1"


def test_per_head_rows_only_up_to_sixteen_heads():
    assert "uniform_head3" in iv.rules(4, -1) and "uniform_head0" not in iv.rules(1, -1)
    assert not any(name.startswith("uniform_head") for name in iv.rules(64, -1))  # 64 passes: left out
