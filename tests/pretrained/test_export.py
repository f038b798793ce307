"""A causal language model trained here exports to a Hugging Face GPT-2 folder that transformers
loads by itself, with the same logits and attention weights."""

import pytest
import torch
from tokenizers import Tokenizer, models
from transformers import AutoModelForCausalLM

from attn_project.errors import ConfigError
from attn_project.model.encoder import EncoderConfig
from attn_project.model.language_model import LanguageModel
from attn_project.pretrained.export import export_gpt2


def word_tokenizer(size: int) -> Tokenizer:
    vocab = {"[PAD]": 0, "[UNK]": 1, "[MASK]": 2, **{f"w{i}": i for i in range(3, size)}}
    return Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))


def test_an_exported_causal_model_gives_the_same_logits_and_attention(tmp_path):
    torch.manual_seed(0)
    model = LanguageModel(EncoderConfig(vocab_size=40, max_len=12, d_model=32, num_heads=4, num_layers=2,
                                        dropout=0.1, causal=True))
    with torch.no_grad():  # biases and norms away from their init, so a misplaced one would show
        for parameter in model.parameters():
            if parameter.dim() == 1:
                parameter.add_(0.1 * torch.randn_like(parameter))
    paths = export_gpt2(model, word_tokenizer(40), tmp_path / "gpt2")
    assert [p.name for p in paths] == ["config.json", "model.safetensors", "tokenizer.json"]
    loaded = AutoModelForCausalLM.from_pretrained(tmp_path / "gpt2", local_files_only=True).eval()
    ids = torch.randint(3, 40, (3, 10), generator=torch.Generator().manual_seed(1))
    ours, weights = model.eval()(ids, need_weights=True)
    theirs = loaded(input_ids=ids, output_attentions=True)
    torch.testing.assert_close(theirs.logits, ours, atol=1e-4, rtol=1e-4)
    attentions = torch.stack(theirs.attentions, 1)  # [B, L, H, T, T]
    torch.testing.assert_close(attentions, weights, atol=1e-5, rtol=1e-4)
    assert Tokenizer.from_file(str(paths[2])).token_to_id("w7") == 7


def test_a_masked_model_or_a_mismatched_tokenizer_is_refused(tmp_path):
    masked = LanguageModel(EncoderConfig(vocab_size=40, d_model=16, num_heads=2, num_layers=1))
    with pytest.raises(ConfigError, match="causal"):
        export_gpt2(masked, word_tokenizer(40), tmp_path / "a")
    causal = LanguageModel(EncoderConfig(vocab_size=40, d_model=16, num_heads=2, num_layers=1, causal=True))
    with pytest.raises(ConfigError, match="tokenizer has 30"):
        export_gpt2(causal, word_tokenizer(30), tmp_path / "b")
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
