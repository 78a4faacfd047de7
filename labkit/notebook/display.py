"""Show labkit's figures and tables in Jupyter: figures as PNG images, event tables without NaN noise;
Kafka's tools as ``!kafka-...`` commands in any kernel (:func:`enable_commands`); and a long wait
(retries, a rebalance, a redelivery) shows what it waits for, with a bar (:func:`enable_progress`).

:mod:`labkit.observe.plots` builds bare ``matplotlib.figure.Figure`` objects (no pyplot, no GUI backend).
Jupyter only renders such a figure as an image once pyplot's inline backend has registered a PNG
formatter; without it a cell shows ``<Figure size 900x450 with 1 Axes>``. Registering the formatter
here makes a returned figure render in every front end and under any ``MPLBACKEND`` (nbval, slides).

The event tables (:meth:`labkit.events.EventLog.frame`, and what a notebook filters out of them) mix
kinds of events: a ``Received`` has no planned delay, a ``Committed`` no attempt. pandas shows each such
cell as ``NaN`` (or ``<NA>``); :func:`enable_tables` shows them empty, for the frames marked
:data:`~labkit.events.log.BLANK_MISSING` only (a student's own DataFrame keeps pandas' display).
"""

from __future__ import annotations

from typing import Any

from labkit.events.log import BLANK_MISSING

__all__ = ["enable_png", "enable_tables", "enable_commands", "enable_progress", "WaitProgress",
           "blank_missing_html", "blank_missing_text"]


def _png(fig) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def _shell() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def enable_png() -> bool:
    """Register the PNG formatter for Figures in the running IPython kernel; False outside one."""
    shell = _shell()
    if shell is None:
        return False
    from matplotlib.figure import Figure

    shell.display_formatter.formatters["image/png"].for_type(Figure, _png)
    return True


def _shown(df: Any) -> Any:
    """``df`` with its nullable integer and boolean columns as plain objects, their ``<NA>`` as NaN:
    pandas prints ``<NA>`` whatever ``na_rep`` says, and NaN as ``na_rep``. Values print the same
    (``1``, ``True``); the frame itself is not changed."""
    import numpy as np
    import pandas as pd

    view = None
    for i, dtype in enumerate(df.dtypes):
        if isinstance(dtype, pd.api.extensions.ExtensionDtype) and dtype.kind in "iub":
            column = df.iloc[:, i]
            view = df.copy(deep=False) if view is None else view
            view.isetitem(i, column.astype(object).where(column.notna(), np.nan))
    return df if view is None else view


def blank_missing_html(df: Any) -> str | None:
    """``df`` as Jupyter shows a DataFrame (pandas' own ``_repr_html_``, same row and column limits),
    missing values empty. Falls back to pandas' display if its formatter API ever changes."""
    from pandas import get_option

    if df._info_repr() or not get_option("display.notebook_repr_html"):
        return df._repr_html_()
    try:
        from pandas.io.formats import format as fmt

        formatter = fmt.DataFrameFormatter(
            _shown(df), na_rep="", float_format=get_option("display.float_format"),
            index_names=True, header=True, index=True, bold_rows=True, escape=True,
            max_rows=get_option("display.max_rows"), min_rows=get_option("display.min_rows"),
            max_cols=get_option("display.max_columns"), show_dimensions=get_option("display.show_dimensions"))
        return fmt.DataFrameRenderer(formatter).to_html(notebook=True)
    except (TypeError, AttributeError, ImportError):
        return df._repr_html_()


def blank_missing_text(df: Any) -> str:
    """``df`` as ``repr`` prints it, missing values empty."""
    try:
        from pandas.io.formats.format import get_dataframe_repr_params
    except ImportError:
        return repr(df)
    if df._info_repr():
        return repr(df)
    return _shown(df).to_string(na_rep="", **get_dataframe_repr_params())


def enable_tables() -> bool:
    """Register, in the running IPython kernel, the display of labkit's event tables with their missing
    values as empty cells (HTML and plain text); False outside a kernel. pandas is not imported here."""
    shell = _shell()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters

    def html(df: Any) -> str | None:
        return blank_missing_html(df) if df.attrs.get(BLANK_MISSING) else df._repr_html_()

    def text(df: Any, printer: Any, cycle: bool) -> None:
        printer.text(blank_missing_text(df) if df.attrs.get(BLANK_MISSING) else repr(df))

    formatters["text/html"].for_type_by_name("pandas", "DataFrame", html)
    formatters["text/plain"].for_type_by_name("pandas", "DataFrame", text)
    return True


def enable_commands() -> None:
    """Kafka's tools as shell commands in this kernel: ``!kafka-topics ...`` in a cell works in any
    Jupyter (VS Code, a JupyterHub, one started without activating the venv), not only the one
    ``labkit lab`` starts with the venv's scripts on ``PATH``."""
    from labkit.broker.tools import commands_on_path

    commands_on_path()


class WaitProgress:
    """One long :func:`labkit.wait.wait_until` in a cell: a line that says what it waits for, a bar
    of the time used out of the deadline, and at the end how it went. Plain text, updated in place
    (at most twice a second): it shows the same in JupyterLab, VS Code, RISE slides and nbval."""

    WIDTH = 24

    def __init__(self, what: str, timeout_s: float) -> None:
        from IPython.display import display

        self.what, self.timeout_s, self._last = what, timeout_s, 0.0
        self._handle = display(self._line(0.0), display_id=True)

    def _line(self, elapsed_s: float) -> Any:
        from IPython.display import Pretty

        filled = min(self.WIDTH, int(self.WIDTH * elapsed_s / self.timeout_s)) if self.timeout_s > 0 else 0
        bar = "█" * filled + "░" * (self.WIDTH - filled)
        return Pretty(f"⏳ waiting for {self.what}  {bar}  {elapsed_s:.0f} s (at most {self.timeout_s:g} s)")

    def update(self, elapsed_s: float) -> None:
        if elapsed_s - self._last >= 0.5 and self._handle is not None:
            self._last = elapsed_s
            self._handle.update(self._line(elapsed_s))

    def done(self, elapsed_s: float, reached: bool) -> None:
        from IPython.display import Pretty

        if self._handle is not None:
            self._handle.update(Pretty(f"✓ {self.what}: after {elapsed_s:.1f} s" if reached else
                                       f"✗ {self.what}: not reached after {elapsed_s:.1f} s"))


def enable_progress() -> bool:
    """Long waits of the kernel's main thread show a :class:`WaitProgress` (True when in a kernel that
    can display; a plain IPython terminal keeps its output as it was)."""
    from labkit import wait

    shell = _shell()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    wait.set_progress(WaitProgress)
    return True
