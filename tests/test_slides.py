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
