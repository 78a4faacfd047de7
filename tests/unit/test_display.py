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
