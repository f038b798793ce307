"""Bad input ends in one clear paragraph and a non-zero exit, not a traceback; bugs keep theirs.

Only errors that say the *input* is wrong are shortened: ``UserError`` and its kinds (a config
value, a data file, a checkpoint, a run that diverged) and Hydra's or OmegaConf's own config
errors. Anything else — an internal bug — keeps its full traceback.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from hydra.errors import HydraException
from omegaconf.errors import OmegaConfBaseException

log = logging.getLogger(__name__)


class UserError(Exception):
    """Input that cannot work; the message names the config key, the file and line, or the path."""


class ConfigError(UserError, ValueError):
    """A config value (or command-line argument) that cannot work; the message names the key
    (``ModelConfig`` checks every model setting under its config key, ``model.num_heads=3``;
    the attention modules, usable on their own, name their own arguments)."""


class DataError(UserError, ValueError):
    """A data file that is missing or malformed; the message names the file (and line)."""


class CheckpointError(UserError, ValueError):
    """A checkpoint that is missing, unreadable, unsafe, or does not fit its tokenizer."""


class NonFiniteLossError(UserError, RuntimeError):
    """Training produced a NaN or infinite loss (a learning rate or initialisation to change)."""


# what Hydra's instantiate wraps when a config names a missing or misspelt argument or class
CONFIG_TYPE_ERRORS = ("unexpected keyword argument", "missing 1 required", "required positional")


def root_cause(err: BaseException) -> BaseException:
    """The innermost error: Hydra wraps errors raised while instantiating a config."""
    while err.__cause__ is not None and isinstance(err, HydraException):
        err = err.__cause__
    return err


def is_user_error(err: BaseException) -> bool:
    """True for bad input (UserError, a config error); False for anything that looks like a bug."""
    root = root_cause(err)
    if isinstance(root, UserError | HydraException | OmegaConfBaseException):
        return True
    wrapped = root is not err  # raised inside Hydra's instantiate: a config naming a bad target/argument
    return wrapped and (isinstance(root, ImportError) or isinstance(root, TypeError)
                        and any(s in str(root) for s in CONFIG_TYPE_ERRORS))


def root_message(err: BaseException) -> str:
    return str(root_cause(err)).strip().strip('"')


HYDRA_APP = "HYDRA_FULL_ERROR"  # Hydra's own variable: its apps (train, eval, inspect) honour it too
PLAIN_APP = "ATTN_FULL_ERROR"   # the argparse commands (study, bench)


@contextmanager
def exit_on_user_error(exit_code: int = 2, in_sweep: bool = False, job: str = "",
                       full_error_env: str = HYDRA_APP) -> Iterator[None]:
    """Turn bad-input errors into a one-paragraph message on stderr and an exit code.

    In a sweep the error is logged with the job's overrides and re-raised, so that Hydra runs
    the other jobs and the sweep's exit status still says that something failed.
    Set ``full_error_env``=1 (HYDRA_FULL_ERROR for the Hydra commands, ATTN_FULL_ERROR for the
    others) to see the traceback instead.
    """
    from lightning.pytorch.utilities.exceptions import SIGTERMException  # heavy: only for the scripts

    try:
        yield
    except SIGTERMException:  # Lightning's, a SystemExit that would otherwise exit with status 0
        print("\ninterrupted by SIGTERM; resume with ckpt_path=<run folder>/checkpoints/last.ckpt",
              file=sys.stderr)
        sys.exit(143)
    except Exception as err:
        if not is_user_error(err) or os.environ.get(full_error_env) == "1":
            raise
        message = root_message(err)
        if in_sweep:
            log.error("job %s failed: %s", job, message)
            raise
        print(f"\nerror: {message}\n(set {full_error_env}=1 for the full traceback)", file=sys.stderr)
        sys.exit(exit_code)
