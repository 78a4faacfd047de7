"""The Dead Letter Topic: its record format (envelope + Spring-compatible headers), publishing, reading,
replaying. The wire details live in :mod:`labkit.dlt.envelope`
(the value) and :mod:`labkit.dlt.headers`, the acknowledged write in :mod:`labkit.dlt.publish`.

Its public names are importable from here (``from labkit.dlt import DltEntry``), each loaded on first use.
"""

from labkit.lazy import exports

PUBLIC = {
    "labkit.dlt.envelope": ["DltEntry", "DltEnvelope"],
    "labkit.dlt.headers": ["decode_dlt_headers"],
    "labkit.dlt.publish": ["DltPublishError", "publish_to_dlt"],
    "labkit.dlt.read": ["read_dlt", "dlt_entry_of"],
    "labkit.dlt.replay": ["DltReprocessor"],
}
__all__ = [name for names in PUBLIC.values() for name in names]
__getattr__, __dir__ = exports(__name__, PUBLIC)
