"""Bad input ends in one clear paragraph and a non-zero exit, not a traceback."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager

from hydra.errors import HydraException
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf.errors import OmegaConfBaseException

from attn_project.callbacks import NonFiniteLossError

log = logging.getLogger(__name__)
USER_ERRORS = (ValueError, FileNotFoundError, KeyError, NonFiniteLossError, HydraException,
               OmegaConfBaseException)


def root_message(err: BaseException) -> str:
    """The innermost message: Hydra wraps errors raised while instantiating a config."""
    while err.__cause__ is not None and isinstance(err, HydraException):
        err = err.__cause__
    return str(err).strip().strip('"')


@contextmanager
def exit_on_user_error(exit_code: int = 2, in_sweep: bool = False, job: str = ""):
    """Turn the errors bad input raises into a one-paragraph message on stderr and an exit code.

    In a sweep the error is logged with the job's overrides and re-raised, so that Hydra runs
    the other jobs and the sweep's exit status still says that something failed.
    Set HYDRA_FULL_ERROR=1 to see the traceback instead.
    """
    try:
        yield
    except SIGTERMException:  # Lightning's, a SystemExit that would otherwise exit with status 0
        print("\ninterrupted by SIGTERM; resume with ckpt_path=<run folder>/checkpoints/last.ckpt",
              file=sys.stderr)
        sys.exit(143)
    except USER_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        message = root_message(err)
        if in_sweep:
            log.error("job %s failed: %s", job, message)
            raise
        print(f"\nerror: {message}\n(set HYDRA_FULL_ERROR=1 for the full traceback)", file=sys.stderr)
        sys.exit(exit_code)
