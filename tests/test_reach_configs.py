"""The other ways into the course (conda, Binder, a dev container) install what make setup installs."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[ ]", r.strip(), maxsplit=1)[0].lower().replace("_", "-") for r in requirements}


def test_environment_yml_names_every_dependency_of_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = names(project["dependencies"] + project["optional-dependencies"]["test"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = names(conda) | names([p for p in pip if not p.startswith("-e")])
    assert wanted - listed == set(), "add them to environment.yml"
    assert any(p.startswith("-e .") for p in pip)  # labkit itself, editable


def test_binder_fetches_the_jars_once_and_has_the_modules_tools():
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert subprocess.run(["bash", "-n", str(post_build)], timeout=30).returncode == 0
    assert "jars.lib_dir()" in post_build.read_text()
    assert set((ROOT / "apt.txt").read_text().split()) >= {"curl", "jq"}


def test_the_dev_container_runs_make_setup_and_forwards_the_modules_ports():
    config = json.loads((ROOT / ".devcontainer" / "devcontainer.json").read_text())
    assert "make setup" in config["postCreateCommand"] and "jq" in config["postCreateCommand"]
    assert {8888, 18082, 9092} <= set(config["forwardPorts"])
    assert "3.11" in config["image"]
