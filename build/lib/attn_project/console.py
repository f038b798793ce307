"""A quiet console: the project's own lines first, without the libraries' advertising and a
deprecation warning Lightning raises inside itself (nothing a user of this project can act on)."""

from __future__ import annotations

import logging
import warnings

RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class DropTips(logging.Filter):
    """Drops Lightning's "💡 Tip: … try installing …" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.getMessage()).startswith("💡 Tip")


def quiet_console() -> None:
    for name in RANK_ZERO_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, DropTips) for f in logger.filters):
            logger.addFilter(DropTips())
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
