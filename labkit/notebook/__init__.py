"""Notebook surfaces: the failure-injection widget panel, inline figures, slides.

Its public names are importable from here (``from labkit.notebook import FailurePanel``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.notebook.widgets": ["FailurePanel"],
    "labkit.notebook.exercises": ["check_dead_lettered", "check_dlt_reasons", "check_fix", "check_group_shares",
                                  "check_order_processed", "check_retry_loop"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
