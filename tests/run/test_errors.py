"""run/errors.py: only bad input becomes one error line; a bug keeps its traceback."""

import pytest

from attn_project.errors import (
    ConfigError,
    DataError,
    NonFiniteLossError,
    exit_on_user_error,
    is_user_error,
)
from attn_project.training.checkpoint import CheckpointError


@pytest.mark.parametrize("error, shortened", [
    (DataError("x.conllu:3: bad"), True), (CheckpointError("ckpt_path=x: bad"), True),
    (NonFiniteLossError("nan"), True), (ValueError("an internal bug"), False),
    (KeyError("internal"), False), (TypeError("unsupported operand"), False)])
def test_only_bad_input_loses_its_traceback(error, shortened, capsys):
    """A bug must keep its traceback: only the user-error kinds become one 'error:' line."""
    if shortened:
        with pytest.raises(SystemExit) as exit_, exit_on_user_error():
            raise error
        assert exit_.value.code == 2 and str(error).strip("'") in capsys.readouterr().err
    else:
        with pytest.raises(type(error)), exit_on_user_error():
            raise error


def test_hydra_wrapped_config_mistakes_are_user_errors_and_wrapped_bugs_are_not():
    from hydra.errors import InstantiationException

    def wrapped(cause):
        try:
            raise InstantiationException("Error in call to target") from cause
        except InstantiationException as err:
            return err

    assert is_user_error(wrapped(TypeError("__init__() got an unexpected keyword argument 'x'")))
    assert is_user_error(wrapped(ConfigError("data.batch_size=0 must be positive")))
    assert not is_user_error(wrapped(ZeroDivisionError("division by zero")))
    assert not is_user_error(wrapped(TypeError("unsupported operand type(s)")))
