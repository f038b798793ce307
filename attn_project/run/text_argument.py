"""``--text SENTENCE``: an ordinary sentence on the command line, commas, apostrophes and quotes included,
which Hydra's override grammar (``text=…``) would refuse or split. The entry point turns it into a
``text=`` override quoted so that Hydra reads back exactly the sentence given."""

from __future__ import annotations

import re

FLAG = "--text"
BACKSLASHES_BEFORE_QUOTE = re.compile(r"(\\+)(?='|$)")  # Hydra unescapes only these


def hydra_quoted(text: str) -> str:
    """``text`` as a single-quoted Hydra value: backslashes before a quote (or the end) doubled, quotes
    and interpolations (``${``) escaped."""
    doubled = BACKSLASHES_BEFORE_QUOTE.sub(lambda m: m.group(1) * 2, text)
    return "'" + doubled.replace("'", "\\'").replace("${", "\\${") + "'"


def with_text_override(args: list[str]) -> list[str]:
    """The arguments with ``--text S`` / ``--text=S`` replaced by a quoted ``text=`` override."""
    out, rest = [], list(args)
    while rest:
        arg = rest.pop(0)
        if arg == FLAG:
            if not rest:
                raise SystemExit(f"error: {FLAG} needs a sentence, e.g. {FLAG} \"It's late, isn't it?\"")
            out.append("text=" + hydra_quoted(rest.pop(0)))
        elif arg.startswith(FLAG + "="):
            out.append("text=" + hydra_quoted(arg[len(FLAG) + 1:]))
        else:
            out.append(arg)
    return out
