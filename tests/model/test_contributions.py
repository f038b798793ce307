"""Exact per-key contributions for models linear after attention: summed over heads and keys
they give the logit margin less the read-out's bias, for one head, several, side-aware values and
the structure-only control."""

import pytest
import torch

from attn_project.model import MaskedTokenClassifier, ModelConfig

VOCAB = 17
BLOCKS = [{}, {"num_heads": 2}, {"num_heads": 4, "relative_bias": True}, {"directional_values": True},
          {"scores": "gold_neighbourhood", "values": "offsets"}, {"scores": "gold_head"}]


@pytest.mark.parametrize("classes", [2, 5])
@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_contributions_sum_to_the_margin_less_the_bias(block, classes):
    torch.manual_seed(0)
    config = ModelConfig(vocab_size=VOCAB, d_model=16, num_classes=classes, **block)
    model = MaskedTokenClassifier(config).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.requires_grad:
                parameter.normal_()
        ids = torch.randint(3, VOCAB, (3, 6))
        heads = torch.tensor([[1, -1, 1, 2, 1, 4]] * 3)
        logits, weights = model.forward_all_masks(ids, heads=heads)  # [B, T, C], [B, H, T, T]
        contributions = model.key_contributions(ids, weights, logits)  # [B, H, T, T]
        sign = torch.full_like(logits, -1 / (classes - 1)).scatter_(-1, logits.argmax(-1, keepdim=True), 1.0)
        margin = (sign * logits).sum(-1)  # [B, T]: predicted logit minus the mean of the others
        bias = model.classifier.bias.clone()
        if hasattr(model.attention, "w_o") and model.offset_values is None:
            bias += model.classifier.weight @ model.attention.w_o.bias
        torch.testing.assert_close(contributions.sum((1, 3)) + sign @ bias, margin, atol=1e-4, rtol=1e-4)
        assert contributions.shape == weights.shape
        assert (contributions[weights == 0] == 0).all()  # no weight, no share


def test_contributions_are_refused_where_the_read_out_is_not_linear():
    model = MaskedTokenClassifier(ModelConfig(vocab_size=VOCAB, d_model=8, residual=True))
    assert not model.linear_after_attention
    with pytest.raises(ValueError, match="linear after attention"):
        ids = torch.ones(1, 3, dtype=torch.long)
        model.key_contributions(ids, torch.ones(1, 1, 3, 3), torch.ones(1, 3, 2))
