"""The slides command executes every notebook (on a broker of its own, Apache Kafka by default) and writes one
HTML each."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import free_port

NOTEBOOKS = sorted((Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.slow
def test_slides_command_writes_one_html_per_notebook(tmp_path):
    env = os.environ | {
        "LABKIT_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}",
        "LABKIT_STATE_DIR": str(tmp_path / "state"),
        "LABKIT_FAST": "1",
        "MPLBACKEND": "Agg",
    }
    try:
        done = subprocess.run([sys.executable, "-m", "labkit.notebook.slides", "--output", str(tmp_path / "out")],
                              capture_output=True, text=True, env=env, timeout=1800)
    finally:  # the notebooks started a broker (and maybe services) there: stop whatever is left
        subprocess.run([sys.executable, "-m", "labkit.cli", "broker", "down", "--all"], env=env,
                       capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(p.name for p in (tmp_path / "out").glob("*.slides.html"))
    assert written == [f"{p.stem}.slides.html" for p in NOTEBOOKS]
    first = (tmp_path / "out" / written[0]).read_text()
    assert "reveal" in first and "<section" in first
