"""Every command the README shows parses: a Hydra command composes its config (``--cfg job``: every
override key, group and value checked, nothing run) for each value a sweep lists; an argparse
command knows every flag it is shown with (its ``--help``)."""

import re
import shlex

import pytest
from conftest import ROOT
from helpers import run_cli

HYDRA_SCRIPTS = {"train", "eval", "inspect_attention", "pretrained"}
PLACEHOLDERS = {"<date_time>": "2026-01-01_00-00-00", "…": "x", "<experiments>": "single_head"}


def readme_commands() -> list[str]:
    """The ``python scripts/<name>.py …`` lines of the README's bash blocks (comments dropped) and
    of its command tables (a row's first cell)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```bash\n(.*?)```", text, re.DOTALL)
    lines = [line.split("  #")[0].strip() for block in blocks for line in block.splitlines()]
    lines += re.findall(r"^\| `(python scripts/[^`]*)` \|", text, re.MULTILINE)
    return [line.split("&&")[-1].strip() for line in lines if "python scripts/" in line]


def words(command: str) -> tuple[str, list[str]]:
    """(script name, its arguments) with the README's placeholders filled in."""
    for placeholder, value in PLACEHOLDERS.items():
        command = command.replace(placeholder, value)
    parts = shlex.split(command)
    script = next(p for p in parts if p.startswith("scripts/"))
    return script.removeprefix("scripts/").removesuffix(".py"), parts[parts.index(script) + 1:]


def sweep_jobs(args: list[str]) -> list[list[str]]:
    """A multirun's arguments as single jobs, together covering every value each sweep lists."""
    args = [a for a in args if a not in ("-m", "--multirun")]
    lists = [a.split("=", 1)[1].split(",") if "=" in a and not a.startswith("hydra.") else [None]
             for a in args]
    jobs = max(len(values) for values in lists) if lists else 1
    return [[a if values == [None] else f"{a.split('=', 1)[0]}={values[k % len(values)]}"
             for a, values in zip(args, lists)] for k in range(jobs)]


COMMANDS = readme_commands()


def test_the_readme_shows_commands():
    assert len(COMMANDS) >= 10 and any(words(c)[0] == "train" for c in COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_readme_command_parses(command, capsys):
    script, args = words(command)
    assert (ROOT / "scripts" / f"{script}.py").is_file(), command
    if script in HYDRA_SCRIPTS:
        for job in sweep_jobs(args):
            code, output = run_cli(script, [*job, "--cfg", "job"], capsys)
            assert code in (0, None), f"{command}\n{job}\n{output[-2000:]}"
        return
    code, output = run_cli(script, ["--help"], capsys)
    assert code in (0, None), output
    flags = [a.split("=")[0] for a in args if a.startswith("--")]
    assert all(flag in output for flag in flags), f"{command}: {flags} not all in --help"
