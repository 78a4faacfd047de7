"""labkit's layers, lowest first: a module imports only from its own layer or below, and never a
private name (``_x``) of another module. ARCHITECTURE.md draws the same picture."""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "labkit"

LAYERS = [
    {"labkit", "labkit.events"},  # the vocabulary every layer speaks: settings, errors, orders, events, wait, paths
    {"labkit.policy"},  # pure decisions: backoff, stop, breaker
    {"labkit.kafka"},  # clients, topics, offsets, records
    {"labkit.broker"},  # start / stop / watch a broker
    {"labkit.dlt"},
    {"labkit.engine"},
    {"labkit.observe"},
    {"labkit.group"},
    {"labkit.api"},
    {"labkit.scenarios"},
    {"labkit.cli", "labkit.notebook"},  # the surfaces
]
RANK = {package: rank for rank, packages in enumerate(LAYERS) for package in packages}
# labkit/__init__.py renders returned figures as images when imported in a notebook: the root may reach
# the notebook layer, nothing else may reach up.
EXEMPT = {("labkit", "labkit.notebook.display")}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str) -> str:
    """``labkit.engine.processor`` -> ``labkit.engine``; ``labkit.settings`` -> ``labkit``."""
    parts = module.split(".")
    package = ".".join(parts[:2])
    return package if package in RANK else "labkit"


def imports(path: Path):
    """(imported module, names, line) for every labkit import of the file, wherever it sits."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "labkit":
            yield node.module, [alias.name for alias in node.names], node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "labkit":
                    yield alias.name, [], node.lineno


FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PACKAGE.parent)))
def test_imports_point_down_and_stay_public(path):
    here = module_name(path)
    wrong = []
    for target, names, line in imports(path):
        for name in names or [None]:
            full = f"{target}.{name}" if name and (PACKAGE / f"{target}.{name}".replace(".", "/")[7:]).exists() \
                else target
            if RANK[layer_of(full)] > RANK[layer_of(here)] and (here, full) not in EXEMPT:
                wrong.append(f"line {line}: {here} ({layer_of(here)}) imports {full} from a higher layer")
            if name and name.startswith("_") and not name.startswith("__") and target != here:
                wrong.append(f"line {line}: {here} takes the private name {name} of {target}")
    assert wrong == []


def test_every_subpackage_has_a_layer():
    packages = {f"labkit.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages - set(RANK) == set()


def test_architecture_md_names_every_module_and_only_files_that_exist():
    text = (PACKAGE.parent / "ARCHITECTURE.md").read_text()
    modules = {str(p.relative_to(PACKAGE.parent)) for p in FILES if p.name != "__main__.py"}
    named = set(re.findall(r"`(labkit/[\w/]+\.py)`", text))
    assert modules - named == set(), "ARCHITECTURE.md does not name these modules"
    assert named - modules == set(), "ARCHITECTURE.md names modules that do not exist"
    tests = set(re.findall(r"`(tests/[\w/]+\.py)`", text))
    assert {t for t in tests if not (PACKAGE.parent / t).exists()} == set()
