"""What the course shows: consumer lag and group state, DLT counts and health, the rebalance timeline, plots
(``from labkit.observe import plots``: matplotlib is loaded only then).

Its public names are importable from here (``from labkit.observe import lag_table``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.observe.lag": ["lag_table", "format_lag_table", "group_state", "LagSampler"],
    "labkit.observe.monitor": ["dlt_count", "dlt_by_reason", "dlt_frame", "health"],
    "labkit.observe.timeline": ["Timeline"],
    "labkit.observe.journeys": ["order_journeys", "duplicates"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
