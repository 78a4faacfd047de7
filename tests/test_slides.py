"""make slides writes one reveal.js page per notebook; with execution (on a broker of its own, Apache Kafka
by default) the outputs are in it. Executing every notebook again here would repeat nbval's ~5 minutes:
every notebook of both editions is converted (the French ones into fr/), and 00 is executed."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FRENCH = sorted((Path(__file__).parent.parent / "notebooks" / "fr").glob("[0-9][0-9]_*.ipynb"))


def test_slides_command_writes_one_html_per_notebook(tmp_path):
    done = subprocess.run([sys.executable, "-m", "labkit.notebook.slides", "--no-execute",
                           "--output", str(tmp_path / "out")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "out").glob("*.slides.html"))
    assert written == [f"{p.stem}.slides.html" for p in NOTEBOOKS]
    first = (tmp_path / "out" / written[0]).read_text()
    assert "reveal" in first and "<section" in first
    # the French edition too, in fr/: same names, its own text
    french = sorted(p.name for p in (tmp_path / "out" / "fr").glob("*.slides.html"))
    assert french == [f"{p.stem}.slides.html" for p in FRENCH]
    first_fr = (tmp_path / "out" / "fr" / french[0]).read_text()
    assert "reveal" in first_fr and first_fr != first


@pytest.mark.slow
def test_executed_slides_carry_the_outputs(tmp_path):
    address = f"127.0.0.1:{free_port()}"
    env = os.environ | {
        "LABKIT_BOOTSTRAP_SERVERS": address,
        "LABKIT_STATE_DIR": str(tmp_path / "state"),
        "LABKIT_FAST": "1",
        "MPLBACKEND": "Agg",
    }
    try:
        done = subprocess.run([sys.executable, "-m", "labkit.notebook.slides", str(NOTEBOOKS[0]),
                               "--output", str(tmp_path / "out")], capture_output=True, text=True, env=env,
                              timeout=280)
    finally:  # the notebook started a broker there: stop whatever is left
        subprocess.run([sys.executable, "-m", "labkit.cli", "broker", "down", "--all"], env=env,
                       capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    page = (tmp_path / "out" / f"{NOTEBOOKS[0].stem}.slides.html").read_text()
    assert "reveal" in page and address in page  # the setup cell's output: the broker it started there


def test_each_notebook_is_written_into_its_editions_folder_with_the_cells_kept(tmp_path):
    """The loop slides and site share: a notebook of notebooks/fr/ goes into fr/ of the output under its
    own name, the cells ``keep`` refuses are left out of the page, and the notebook written is returned."""
    import nbformat
    from nbconvert import HTMLExporter

    from labkit.notebook.slides import convert

    (tmp_path / "fr").mkdir()
    cells = [nbformat.v4.new_markdown_cell("# Théorie"),
             nbformat.v4.new_markdown_cell("À dire : bonjour", metadata={"slideshow": {"slide_type": "notes"}})]
    nbformat.write(nbformat.v4.new_notebook(cells=cells), tmp_path / "fr" / "01_theory.ipynb")
    target, nb = convert(tmp_path / "fr" / "01_theory.ipynb", tmp_path / "out", HTMLExporter(), ".page.html",
                         execute=False, keep=lambda c: c.metadata.get("slideshow", {}).get("slide_type") != "notes")
    assert target == tmp_path / "out" / "fr" / "01_theory.page.html"
    assert [c.source for c in nb.cells] == ["# Théorie"]
    page = target.read_text(encoding="utf-8")
    assert "Théorie" in page and "À dire" not in page


def test_both_commands_read_the_same_arguments_and_default_to_both_editions():
    from labkit.notebook.slides import arguments, course_notebooks

    args = arguments("python -m labkit.notebook.site", "The site.", Path("site"), [])
    assert args.notebooks == course_notebooks() and args.output == Path("site") and not args.no_execute
    args = arguments("python -m labkit.notebook.slides", "Slides.", Path("slides"),
                     ["notebooks/00_x.ipynb", "--output", "elsewhere", "--no-execute"])
    assert args.notebooks == [Path("notebooks/00_x.ipynb")] and args.output == Path("elsewhere") and args.no_execute
