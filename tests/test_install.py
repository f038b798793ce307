"""The package as users install it: a wheel (not editable), its commands, from another folder."""

import importlib.util
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from conftest import ROOT

COMMANDS = ["attn-train", "attn-eval", "attn-inspect", "attn-explain", "attn-study", "attn-bench",
            "attn-fetch-ud", "attn-fetch-text", "attn-pretrained", "attn-lens-over-training"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A fresh virtual environment with the wheel built from this checkout installed (the
    dependencies are this environment's, reached through a .pth file, so nothing is downloaded)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "source"  # a copy: setuptools writes build/ beside the sources it builds
    top_level = {".git", ".venv", "logs", "data", "docs", "build", "dist"}  # not the package's data/
    shutil.copytree(ROOT, source, ignore=lambda folder, names: [
        n for n in names if (Path(folder) == ROOT and n in top_level) or n.endswith((".egg-info", "_cache"))
        or n == "__pycache__"])
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "-v", "--no-deps", *isolation,
                            "-w", str(tmp / "dist"), str(source)], check=True, capture_output=True, text=True)
    (tmp / "build.log").write_text(build.stdout + build.stderr)
    env = tmp / "venv"
    venv.create(env, with_pip=True)
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    wheel = next((tmp / "dist").glob("attn_project-*.whl"))
    subprocess.run([env / "bin" / "python", "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                   check=True)
    return env / "bin"


@pytest.mark.slow
def test_the_build_follows_the_layout_without_setuptools_warnings(installed):
    log = (installed.parent.parent / "build.log").read_text()
    assert "Successfully built" in log or "Saved" in log
    warnings = ("Package would be ignored", "SetuptoolsDeprecationWarning", "is absent from the `packages`")
    for warning in warnings:
        assert warning not in log, warning  # e.g. a conf/ group or a new package the build does not declare
    wheel = next((installed.parent.parent / "dist").glob("attn_project-*.whl"))
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for module in ROOT.joinpath("attn_project").rglob("*.py"):
        assert str(module.relative_to(ROOT)) in names  # every module, found from the layout
    for config in ROOT.joinpath("conf").rglob("*.yaml"):
        assert f"attn_project/conf/{config.relative_to(ROOT / 'conf')}" in names


@pytest.mark.slow
def test_the_wheel_installs_every_command_and_its_configs(installed):
    for command in COMMANDS:
        result = subprocess.run([installed / command, "--help"], capture_output=True, text=True)
        assert result.returncode == 0, (command, result.stderr[-2000:])
        assert "attn-" in result.stdout or "experiment" in result.stdout, command
    configs = subprocess.run([installed / "python", "-c",
                              "import attn_project.commands.cli as c; print(c.CONFIGS)"],
                             capture_output=True, text=True, cwd="/", check=True).stdout.strip()
    assert Path(configs).is_relative_to(installed.parent / "lib"), configs  # the wheel's copy, not ours
    assert (Path(configs) / "experiment" / "ud_single_head.yaml").is_file()
    assert (Path(configs).parent / "py.typed").is_file()  # type checkers read the annotations
    code = ("from attn_project.commands.bench import compose_train_config; "
            "print(compose_train_config('cpu').model.d_model)")
    bench_cfg = subprocess.run([installed / "python", "-c", code], capture_output=True, text=True,
                               cwd="/")  # attn-bench composes its config from the wheel too
    assert bench_cfg.returncode == 0 and bench_cfg.stdout.strip() == "64", bench_cfg.stderr[-2000:]


@pytest.mark.slow
def test_attn_train_runs_from_any_folder_after_a_wheel_install(installed, tmp_path):
    result = subprocess.run([installed / "attn-train", "experiment=single_head", "debug=fdr",
                             "data.sizes={train:300,dev:50,test:50}", "callbacks.progress_bar=null"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    runs = list((tmp_path / "logs" / "runs" / "single_head").glob("*/metrics.json"))
    assert len(runs) == 1 and (runs[0].parent / "train.log").is_file()  # logs/ where the user ran it
    assert list((tmp_path / "data" / "generated").glob("default_v*/default-ud-train.conllu"))
