"""The event tables a notebook shows: missing values are blank cells, not NaN or <NA> (issue 22)."""

from __future__ import annotations

import pandas as pd
from IPython.core.interactiveshell import InteractiveShell

from labkit.events import EventLog, Processed, Produced, Received, Retried, RetryScheduled
from labkit.notebook.display import enable_tables


def _processed_order_frame():
    log = EventLog()
    log.append(Produced(consumer="labkit-api", topic="orders", partition=1, offset=3, key="ORD-RETRY",
                        order_id="ORD-RETRY"))
    log.append(Received(topic="orders", partition=1, offset=3, key="ORD-RETRY"))
    log.append(RetryScheduled(topic="orders", partition=1, offset=3, key="ORD-RETRY", attempt=1, max_attempts=5,
                              planned_delay_s=0.2, error="ServiceUnavailable"))
    log.append(Retried(topic="orders", partition=1, offset=3, key="ORD-RETRY", attempt=1, planned_delay_s=0.2,
                       actual_delay_s=0.203))
    log.append(Processed(topic="orders", partition=1, offset=3, key="ORD-RETRY", order_id="ORD-RETRY", attempt=1))
    frame = log.frame()
    story = frame.assign(t_s=frame["ts"] - frame["ts"].min())
    return story[["t_s", "kind", "attempt", "planned_delay_s", "actual_delay_s", "error", "duplicate"]].round(3)


def test_a_processed_order_table_shows_no_nan_and_integer_attempts():
    shell = InteractiveShell.instance()
    try:
        assert enable_tables() is True
        table = _processed_order_frame()
        data, _ = shell.display_formatter.format(table)
        for mime in ("text/plain", "text/html"):
            shown = data[mime]
            assert "NaN" not in shown and "<NA>" not in shown and "&lt;NA&gt;" not in shown, shown
            assert "1.0" not in shown.replace("0.1", ""), shown  # attempt 1, not 1.0
        assert "<td></td>" in data["text/html"]  # an empty cell where a value does not apply
        assert "ServiceUnavailable" in data["text/html"] and "Retried" in data["text/plain"]
        other = pd.DataFrame({"x": [1.0, None]})  # a student's own frame keeps pandas' display
        assert "NaN" in shell.display_formatter.format(other)[0]["text/plain"]
    finally:
        InteractiveShell.clear_instance()


def test_outside_ipython_nothing_is_registered():
    assert enable_tables() is False
