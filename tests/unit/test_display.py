"""Figures returned by labkit.observe.plots render as PNG in a notebook, whatever MPLBACKEND says."""

from IPython.core.interactiveshell import InteractiveShell
from matplotlib.figure import Figure

from labkit.notebook.display import enable_png


def test_a_bare_figure_is_formatted_as_png_in_ipython():
    shell = InteractiveShell.instance()
    try:
        assert enable_png() is True
        fig = Figure()
        fig.subplots().plot([0, 1], [1, 0])
        data, _ = shell.display_formatter.format(fig)
        assert data["image/png"].startswith(b"\x89PNG")
    finally:
        InteractiveShell.clear_instance()


def test_outside_ipython_nothing_is_registered():
    assert enable_png() is False


def test_a_kernel_whose_venv_was_never_activated_finds_kafka_commands(tmp_path):
    """A kernel started with the venv's python but a bare PATH (a Jupyter not started by labkit lab):
    importing labkit puts the venv's scripts first, so a cell's !kafka-topics is found."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import IPython, os, shutil; import labkit; "
            "print(os.environ['PATH'].split(os.pathsep)[0]); print(shutil.which('kafka-topics'))")
    done = subprocess.run([sys.executable, "-c", code], env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    first, found = done.stdout.split()
    scripts = str(Path(sys.executable).parent)
    assert first == scripts and found == os.path.join(scripts, "kafka-topics"), done.stderr
