"""The packages follow the layout, with no hand-kept list: every package under attn_project/, and
the top-level conf/ with each of its config groups, shipped inside the wheel as attn_project.conf
(``attn_project.run.configs`` finds it there after a plain install). Everything else is in
pyproject.toml."""

from setuptools import find_namespace_packages, find_packages, setup

CODE = find_packages(include=["attn_project", "attn_project.*"])
CONFIGS = ["attn_project.conf", *(f"attn_project.conf.{group}" for group in find_namespace_packages("conf"))]

setup(packages=CODE + CONFIGS, package_dir={"attn_project.conf": "conf"},
      package_data={"attn_project": ["py.typed"], **{package: ["*.yaml"] for package in CONFIGS}})
