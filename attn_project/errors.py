"""Bad input ends in one clear paragraph and a non-zero exit, not a traceback."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from omegaconf.errors import OmegaConfBaseException

USER_ERRORS = (ValueError, FileNotFoundError, KeyError, OmegaConfBaseException)


@contextmanager
def exit_on_user_error(exit_code: int = 2):
    """Turn the errors bad input raises into a one-paragraph message on stderr and an exit code.

    Set HYDRA_FULL_ERROR=1 (or ATTN_FULL_ERROR=1) to see the traceback instead.
    """
    import os

    try:
        yield
    except USER_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or os.environ.get("ATTN_FULL_ERROR") == "1":
            raise
        message = str(err).strip().strip('"')
        print(f"\nerror: {message}\n(set HYDRA_FULL_ERROR=1 for the full traceback)", file=sys.stderr)
        sys.exit(exit_code)
