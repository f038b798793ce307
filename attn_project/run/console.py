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


LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")  # each may have its own handler


def one_line_per_message(parallel_sweep: bool = False) -> None:
    """Inside a Hydra app: Lightning's own stderr handlers removed, so each of its lines reaches the
    terminal once, through Hydra's handlers (which also write train.log). In a sweep whose jobs run
    side by side the terminal shows warnings only; each job prints one line when it finishes, and
    its train.log keeps everything."""
    root = logging.getLogger()
    if not root.handlers:  # not configured by Hydra (a notebook, a test): leave Lightning's handlers
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        for own in [h for h in logger.handlers
                    if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]:
            logger.removeHandler(own)
        logger.propagate = True
    if parallel_sweep:
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                handler.setLevel(logging.WARNING)


def parameter_summary(module) -> str:
    """The model's top-level layers and parameter counts — Lightning's model summary without its
    FLOPs column and total, which are 0 for a module with no example input and read as a claim."""
    from lightning.pytorch.utilities.model_summary import ModelSummary, get_human_readable_count

    summary = ModelSummary(module, max_depth=1)
    layers = [(name, kind, get_human_readable_count(count)) for name, kind, count in
              zip(summary.layer_names, summary.layer_types, summary.param_nums, strict=True) if count]
    rows = [("layer", "type", "params"), *layers]
    widths = [max(len(str(row[k])) for row in rows) for k in range(3)]
    lines = ["  ".join(f"{cell:<{width}}" for cell, width in zip(row, widths, strict=True)) for row in rows]
    trainable, total = (get_human_readable_count(n) for n in (summary.trainable_parameters,
                                                                summary.total_parameters))
    return "\n".join([*lines, f"{trainable} trainable parameters of {total}, {summary.model_size:.2f} MB"])
