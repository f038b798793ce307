"""checkpoint.py: loading one of our checkpoints — what it returns, and what it refuses."""

import os
import pickle

import pytest
import torch

from attn_project.data.settings import DataSettings
from attn_project.model import MaskedTokenClassifier
from attn_project.training.checkpoint import (
    CheckpointError,
    check_fits,
    load_run,
    read_tokenizer,
    stored_data_settings,
)


def test_load_run_returns_the_trained_module_its_tokenizer_and_data_settings(trained_ckpt):
    run = load_run(trained_ckpt)
    stored = torch.load(trained_ckpt, weights_only=True)
    assert not run.module.training and run.pieces is None
    for name, value in run.module.state_dict().items():
        torch.testing.assert_close(value, stored["state_dict"][name])
    assert isinstance(run.module.model, MaskedTokenClassifier)
    assert len(run.tokenizer) == run.module.model.config.vocab_size
    assert run.tokenizer.convert_ids_to_tokens(run.tokenizer.mask_token_id) == "[MASK]"
    assert isinstance(run.data, DataSettings) and run.data.max_len == 20  # as the fixture trained it
    assert run.max_pieces == run.data.max_pieces


def test_weights_that_do_not_fit_are_named_not_loaded(trained_ckpt):
    module = load_run(trained_ckpt).module
    state = dict(module.state_dict())
    name = next(iter(state))
    with pytest.raises(CheckpointError, match=rf"x\.ckpt: .*missing \['{name}'\]"):
        check_fits("x.ckpt", module, {k: v for k, v in state.items() if k != name})
    with pytest.raises(CheckpointError, match="wrong shape"):
        check_fits("x.ckpt", module, {**state, name: torch.zeros(1)})
    with pytest.raises(CheckpointError, match="unexpected \\['extra'\\]"):
        check_fits("x.ckpt", module, {**state, "extra": torch.zeros(1)})
    check_fits("x.ckpt", module, state)  # the real weights fit


@pytest.mark.parametrize(("text", "fragment"), [(42, "is not text"), ("{not json", "malformed")])
def test_a_stored_tokenizer_that_is_no_tokenizer_is_refused(text, fragment):
    with pytest.raises(CheckpointError, match=f"x.ckpt: .*{fragment}"):
        read_tokenizer("x.ckpt", text)


def test_stored_data_settings_are_checked_like_the_config():
    assert stored_data_settings("x.ckpt", None) is None  # older checkpoints kept none
    with pytest.raises(CheckpointError, match="not a dict of settings"):
        stored_data_settings("x.ckpt", ["max_len", 20])
    with pytest.raises(CheckpointError, match="max_len"):
        stored_data_settings("x.ckpt", {"root": "data", "max_len": -3})


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_checkpoint_with_pickled_callable_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"hyper_parameters": {}, "state_dict": {}, "payload": Boom()}, path,
               pickle_protocol=pickle.DEFAULT_PROTOCOL)
    with pytest.raises(CheckpointError, match="refused to load"):
        load_run(path)
