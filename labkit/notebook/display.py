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
from labkit.lang import LABELLED, language, tr

__all__ = ["enable_png", "enable_tables", "labelled", "column_labels", "enable_commands", "enable_progress",
           "WaitProgress", "blank_missing_html", "blank_missing_text"]


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


def column_labels() -> dict[str, str]:
    """What the student reads above a column of labkit's tables, by the column's name (the name code
    indexes by stays English: ``table["evidence"]``). Kafka's and the module's names (topic, partition,
    offset, key, consumer, errorType) are not translated."""
    return {"checkpoint": tr("checkpoint"), "result": tr("result"), "evidence": tr("evidence"),
            "to_do": tr("to do"), "kind": tr("kind"), "time": tr("time"), "attempt": tr("attempt"),
            "reason": tr("reason"), "error": tr("error"), "error_message": tr("error message"),
            "planned_delay_s": tr("planned delay (s)"), "actual_delay_s": tr("actual delay (s)"),
            "duplicate": tr("duplicate"), "during_rebalance": tr("during a rebalance"),
            # order_journeys, Timeline.report, ConsumerGroup.assignment_table
            "order_id": tr("order"), "outcome": tr("outcome"), "by": tr("by"), "wait_s": tr("wait (s)"),
            "times": tr("times processed"), "rebalance": tr("rebalance"), "trigger": tr("trigger"),
            "at_s": tr("at (s)"), "moved": tr("moved"), "paused": tr("paused"), "max_gap_s": tr("max gap (s)"),
            "settled_s": tr("settled after (s)"), "count": tr("count")}


def outcome_labels() -> dict[str, str]:
    """The outcomes of :func:`labkit.observe.journeys.order_journeys` as the student reads them (DLT stays DLT)."""
    return {"processed": tr("processed"), "waiting": tr("waiting"), "dlt": "DLT"}


def labelled(df: Any) -> Any:
    """``df`` as shown: a frame labkit marked :data:`~labkit.lang.LABELLED` gets its column labels (and
    its index's name) in the student's language (a renamed copy; ``df`` keeps its names). Others are
    returned as they are."""
    if not df.attrs.get(LABELLED) or language() == "en":
        return df
    labels = column_labels()
    shown = df.rename(columns=labels)
    if "outcome" in df.columns:  # order_journeys' values are words a student reads, not names code uses
        outcomes = outcome_labels()
        shown[labels["outcome"]] = df["outcome"].map(lambda v: outcomes.get(v, v))
    if df.index.name in labels:  # Timeline.report is indexed by its rebalance number
        shown = shown.rename_axis(index=labels[df.index.name])
    return shown


def enable_tables() -> bool:
    """Register, in the running IPython kernel, the display of labkit's event tables with their missing
    values as empty cells (HTML and plain text); False outside a kernel. pandas is not imported here."""
    shell = _shell()
    if shell is None:
        return False
    formatters = shell.display_formatter.formatters

    def html(df: Any) -> str | None:
        shown = labelled(df)
        return blank_missing_html(shown) if df.attrs.get(BLANK_MISSING) else shown._repr_html_()

    def text(df: Any, printer: Any, cycle: bool) -> None:
        shown = labelled(df)
        printer.text(blank_missing_text(shown) if df.attrs.get(BLANK_MISSING) else repr(shown))

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
        return Pretty(tr("⏳ waiting for {what}  {bar}  {elapsed:.0f} s (at most {timeout:g} s)").format(
            what=self.what, bar=bar, elapsed=elapsed_s, timeout=self.timeout_s))

    def update(self, elapsed_s: float) -> None:
        if elapsed_s - self._last >= 0.5 and self._handle is not None:
            self._last = elapsed_s
            self._handle.update(self._line(elapsed_s))

    def done(self, elapsed_s: float, reached: bool) -> None:
        from IPython.display import Pretty

        if self._handle is not None:
            line = tr("✓ {what}: after {elapsed:.1f} s") if reached else \
                tr("✗ {what}: not reached after {elapsed:.1f} s")
            self._handle.update(Pretty(line.format(what=self.what, elapsed=elapsed_s)))


def enable_progress() -> bool:
    """Long waits of the kernel's main thread show a :class:`WaitProgress` (True when in a kernel that
    can display; a plain IPython terminal keeps its output as it was)."""
    from labkit import wait

    shell = _shell()
    if shell is None or type(shell).__name__ != "ZMQInteractiveShell":
        return False
    wait.set_progress(WaitProgress)
    return True
