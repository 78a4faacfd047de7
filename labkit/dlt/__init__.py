"""The Dead Letter Topic: its record format (envelope + Spring-compatible headers), publishing, reading, replaying.

What a notebook needs is here (``from labkit.dlt import read_dlt``); the wire details live in
:mod:`labkit.dlt.envelope`, the acknowledged write in :mod:`labkit.dlt.publish`.
"""

from labkit.dlt.envelope import DltEntry, DltEnvelope, decode_dlt_headers
from labkit.dlt.publish import DltPublishError, publish_to_dlt
from labkit.dlt.read import dlt_entry_of, read_dlt
from labkit.dlt.replay import DltReprocessor

__all__ = ["DltEntry", "DltEnvelope", "decode_dlt_headers", "DltPublishError", "publish_to_dlt", "dlt_entry_of",
           "read_dlt", "DltReprocessor"]
