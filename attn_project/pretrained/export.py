"""A causal language model trained here → a Hugging Face GPT-2 folder (config.json,
model.safetensors, tokenizer.json) that ``AutoModelForCausalLM`` loads without remote code: the
encoder follows GPT-2's conventions (pre-LN, learned positions, exact GELU, final LayerNorm, output
tied to the input embedding), so the same weights give the same logits and attention."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from torch import Tensor, nn

from attn_project.errors import ConfigError
from attn_project.model.attention import MultiHeadAttention
from attn_project.model.blocks import TransformerBlock
from attn_project.model.language_model import LanguageModel


def gpt2_config(model: LanguageModel) -> dict:
    """config.json of the GPT-2 with this model's sizes (dropout as trained; eager attention, so the
    weights can be read)."""
    c = model.config
    return {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": c.vocab_size,
            "n_positions": c.max_len, "n_embd": c.d_model, "n_layer": c.num_layers, "n_head": c.num_heads,
            "n_inner": c.d_ff or 4 * c.d_model, "activation_function": "gelu", "layer_norm_epsilon": 1e-5,
            "resid_pdrop": c.dropout, "embd_pdrop": c.dropout, "attn_pdrop": 0.0,
            "tie_word_embeddings": True,
            "scale_attn_weights": True, "bos_token_id": None, "eos_token_id": None,
            "pad_token_id": c.pad_id, "attn_implementation": "eager"}


def gpt2_state(model: LanguageModel) -> dict[str, Tensor]:
    """The weights under GPT-2's names; its Conv1D layers store [in, out], nn.Linear [out, in]."""
    encoder, state = model.encoder, {}
    state["transformer.wte.weight"] = encoder.tokens.weight
    state["transformer.wpe.weight"] = encoder.positions.weight
    for i, module in enumerate(encoder.blocks):
        block = cast(TransformerBlock, module)
        prefix, attention = f"transformer.h.{i}.", cast(MultiHeadAttention, block.attention)
        assert block.mlp is not None and block.mlp_norm is not None  # a language model's block has both
        qkv_weight = torch.cat([attention.w_q.weight, attention.w_k.weight, attention.w_v.weight])  # [3d, d]
        qkv_bias = torch.cat([attention.w_q.bias, attention.w_k.bias, attention.w_v.bias])  # [3d]
        parts = {"ln_1": block.attention_norm, "ln_2": block.mlp_norm}
        state |= {f"{prefix}{name}.{kind}": getattr(norm, kind) for name, norm in parts.items()
                  for kind in ("weight", "bias")}
        linear = {"attn.c_proj": attention.w_o, "mlp.c_fc": cast(nn.Linear, block.mlp[0]),
                  "mlp.c_proj": cast(nn.Linear, block.mlp[2])}
        state |= {f"{prefix}{name}.weight": layer.weight.T for name, layer in linear.items()}
        state |= {f"{prefix}{name}.bias": layer.bias for name, layer in linear.items()}
        state |= {f"{prefix}attn.c_attn.weight": qkv_weight.T, f"{prefix}attn.c_attn.bias": qkv_bias}
    state["transformer.ln_f.weight"] = encoder.final_norm.weight
    state["transformer.ln_f.bias"] = encoder.final_norm.bias
    return {name: tensor.detach().cpu().contiguous().clone() for name, tensor in state.items()}


def export_gpt2(model: LanguageModel, tokenizer: Tokenizer, out: Path) -> list[Path]:
    """Write the folder; refuses a masked model (GPT-2's attention is causal) and a tokenizer whose
    ids do not fit the embedding."""
    if not model.causal:
        raise ConfigError("export: a masked language model has no GPT-2 form (its attention looks both "
                          "ways); export a causal one (experiment=lm_causal)")
    if tokenizer.get_vocab_size() != model.config.vocab_size:
        raise ConfigError(f"export: the tokenizer has {tokenizer.get_vocab_size()} entries, the model "
                          f"{model.config.vocab_size} embeddings")
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "config.json", out / "model.safetensors", out / "tokenizer.json"]
    paths[0].write_text(json.dumps(gpt2_config(model), indent=2), encoding="utf-8")
    save_file(gpt2_state(model), str(paths[1]), metadata={"format": "pt"})
    tokenizer.save(str(paths[2]))
    return paths
