"""Every notebook: numbered name, title, stripped outputs, python3 kernel, a checkpoint that asserts,
and only labkit names that exist."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("*.ipynb"))
NAME = re.compile(r"^\d{2}_[a-z0-9_]+\.ipynb$")


def _load(path):
    return nbformat.read(path, as_version=4)


def test_there_are_notebooks_and_their_numbers_are_unique_and_contiguous():
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers and numbers == list(range(len(numbers)))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_anatomy(path):
    nb = _load(path)
    assert NAME.match(path.name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith(f"# {path.name[:2]} ·")
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "commit notebooks stripped"
    headings = [i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("## Checkpoint")]
    assert headings, "every notebook ends with a '## Checkpoint' section"
    checks = [c for c in nb.cells[headings[-1]:] if c.cell_type == "code"]
    assert any(re.search(r"^\s*assert ", c.source, re.M) for c in checks), "the checkpoint must assert real state"


def _labkit_names(source: str):
    """(module, attribute) pairs a cell imports from labkit."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return  # cells with IPython magics (%load, !curl) are not Python
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "labkit":
            for alias in node.names:
                yield node.module, alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "labkit":
                    yield alias.name, None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_labkit_name_a_notebook_uses_exists(path):
    for cell in _load(path).cells:
        if cell.cell_type != "code":
            continue
        for module, name in _labkit_names(cell.source):
            imported = importlib.import_module(module)
            if name:
                assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), f"{module}.{name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_star_imports(path):
    for cell in _load(path).cells:
        assert "import *" not in cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_loaded_solutions_match_their_files(path):
    """A ``# %load solutions/x.py`` cell holds exactly the file's code (what %load would insert),
    and is hidden from the slides, so the notebook and the solution file never drift apart."""
    for cell in nbformat.read(path, as_version=4).cells:
        first, _, body = cell.source.partition("\n")
        if cell.cell_type == "code" and first.startswith("# %load "):
            solution = path.parent / first.removeprefix("# %load ").strip()
            assert solution.is_file(), f"{path.name}: {solution} does not exist"
            assert body.strip() == solution.read_text().strip(), f"{path.name}: cell differs from {solution.name}"
            assert cell.metadata.get("slideshow", {}).get("slide_type") == "skip", "solutions are hidden in slides"


BASH_ONLY = re.compile(r"\{\{?\w+\.\.\w+\}\}?|\[\[ |<\(")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_shell_lines_are_plain_sh(path):
    """IPython runs a ``!`` line with the user's $SHELL, or ``sh`` (dash on Debian) when it is unset, as in CI:
    bash-only syntax (``{1..5}``, ``[[ ]]``, ``<( )``) belongs in a ``%%bash`` cell."""
    for cell in _load(path).cells:
        if cell.cell_type == "code" and not cell.source.startswith("%%bash"):
            for line in cell.source.splitlines():
                if line.lstrip().startswith("!"):
                    assert not BASH_ONLY.search(line), f"{path.name}: bash-only syntax in {line!r}"


def test_the_agenda_gives_every_notebook_its_minutes_and_sums_to_the_modules_three_hours():
    import sys

    sys.path.insert(0, str(Path(__file__).parent.parent / "benchmarks"))
    from course_words import COURSE_MINUTES, agenda

    planned = agenda(_load(NOTEBOOKS[0]))
    assert sorted(planned) == [p.name[:2] for p in NOTEBOOKS], planned
    assert sum(planned.values()) == COURSE_MINUTES, planned


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_slides_keep_tall_cells_scrollable(path):
    """RISE cuts a slide taller than the screen unless ``scroll`` is on (long outputs, tables)."""
    rise = _load(path).metadata.get("rise", {})
    assert rise.get("scroll") is True, f"{path.name}: metadata.rise.scroll must be true"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_slides_fill_the_screen_without_being_cut(path):
    """reveal.js scales a slide of width/height 95 % *up* to the screen: its edges were cut (seen in
    Chromium, tests/test_browser.py). 100 % fits."""
    rise = _load(path).metadata.get("rise", {})
    assert (rise.get("width"), rise.get("height")) == ("100%", "100%"), f"{path.name}: {rise}"
