"""Show labkit's figures in Jupyter as PNG images.

:mod:`labkit.observe.plots` builds bare ``matplotlib.figure.Figure`` objects (no pyplot, no GUI backend).
Jupyter only renders such a figure as an image once pyplot's inline backend has registered a PNG
formatter; without it a cell shows ``<Figure size 900x450 with 1 Axes>``. Registering the formatter
here makes a returned figure render in every front end and under any ``MPLBACKEND`` (nbval, slides).
"""

from __future__ import annotations

__all__ = ["enable_png"]


def _png(fig) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def enable_png() -> bool:
    """Register the PNG formatter for Figures in the running IPython kernel; False outside one."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png)
    return True
