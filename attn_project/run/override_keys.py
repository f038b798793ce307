"""A misspelt key on the command line (``model.dmodel=32``) gets the closest real key at once.

Hydra's own message for it suggests ``+model.dmodel=32``, which adds a key nothing reads. Before
Hydra starts, the commands compose their config with the command line's group choices and look
up every ``a.b=…`` key; an unknown one ends in one ``error:`` line naming the closest keys.
"""

from __future__ import annotations

import difflib
import sys

from omegaconf import DictConfig

from attn_project.run.configs import CONFIGS

PREFIXES = ("+", "~")  # +key adds, ++key forces, ~key deletes: deliberate, never checked


def parsed_overrides(args: list[str]) -> list:
    """Hydra's parse of the command line's ``key=value`` overrides ([] when one is malformed)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    overrides = [a for a in args if "=" in a and not a.startswith("-")]
    try:
        return OverridesParser.create().parse_overrides(overrides)
    except Exception:  # a malformed override: Hydra reports it itself, with a better message
        return []


def first_value(override) -> str:
    """The override as ``key=value``, a sweep (``a,b``) taken at its first value."""
    if override.is_sweep_override():
        values = list(override.sweep_string_iterator())
        return override.get_key_element() + "=" + str(values[0]) if values else ""
    return override.input_line or ""


def composed(config_name: str, group_choices: list[str]) -> DictConfig | None:
    from hydra import compose, initialize_config_dir

    try:
        with initialize_config_dir(CONFIGS, version_base="1.3"):
            return compose(config_name, overrides=group_choices)
    except Exception:  # a bad group choice: Hydra will say so in its own words
        return None


def all_keys(cfg: DictConfig, prefix: str = "") -> list[str]:
    """Every dotted key of ``cfg`` (``model``, ``model.d_model``, …), nothing resolved."""
    keys = []
    for key, value in cfg.items_ex(resolve=False):
        name = prefix + str(key)
        keys.append(name)
        if isinstance(value, DictConfig):
            keys += all_keys(value, name + ".")
    return keys


def unknown_key_message(config_name: str, args: list[str]) -> str | None:
    """The error for the first command-line key the config does not have, or None."""
    overrides = [o for o in parsed_overrides(args) if not (o.input_line or "").startswith(PREFIXES)]
    checked = [o for o in overrides if not o.get_key_element().startswith("hydra")]
    dotted = [o for o in checked if "." in o.get_key_element()]
    if not dotted:
        return None
    groups = [first_value(o) for o in checked if o not in dotted]
    cfg = composed(config_name, [choice for choice in groups if choice])
    if cfg is None:
        return None
    known = all_keys(cfg)
    for override in dotted:
        key = override.get_key_element()
        if key not in known:
            return unknown_key(key, known, override.input_line or key)
    return None


def unknown_key(key: str, known: list[str], typed: str) -> str:
    """``model.dmodel: no such setting; did you mean model.d_model? The keys of model: …``"""
    section = key.rsplit(".", 1)[0]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    siblings = sorted(k.rsplit(".", 1)[1] for k in known if "." in k and k.rsplit(".", 1)[0] == section)
    hint = f" did you mean {close[0]}?" if close else ""
    listed = f" The keys of {section}: {', '.join(siblings)}." if siblings else ""
    return (f"{key}: no such setting;{hint}{listed} (To add a key that no config has, on purpose: "
            f"+{typed})")


def exit_on_unknown_key(config_name: str, args: list[str] | None = None) -> None:
    message = unknown_key_message(config_name, sys.argv[1:] if args is None else args)
    if message:
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
