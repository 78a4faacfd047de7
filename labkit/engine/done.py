"""What may be committed: the per-partition contiguous "done" watermark.

The consumer's position can be past a record still waiting for its retry (pause mode keeps it
aside, the topic mode's retry-topic records wait for their due time), so committing the position
would lose it on a crash. The watermark is the lowest offset not done yet: every record before it
is done, so committing it loses nothing.
"""

from __future__ import annotations

from typing import Any

from kafka import OffsetAndMetadata

__all__ = ["DoneTracker"]


class DoneTracker:
    """Per-partition contiguous "done" watermark: the next offset that may be committed.

    ``received(tp, o)`` marks ``o`` outstanding; ``done(tp, o)`` clears it. The watermark is the
    lowest outstanding offset, or (highest seen + 1) when nothing is outstanding (gaps in offsets,
    such as transaction markers, are therefore skipped correctly).
    """

    def __init__(self) -> None:
        self._outstanding: dict[Any, set[int]] = {}
        self._high: dict[Any, int] = {}
        self._committed: dict[Any, int] = {}

    def received(self, tp: Any, offset: int) -> None:
        outstanding = self._outstanding.get(tp)
        if outstanding is None:  # not setdefault(tp, set()): that builds a set per record
            outstanding = self._outstanding[tp] = set()
        outstanding.add(offset)
        self._seen(tp, offset)

    def done(self, tp: Any, offset: int) -> None:
        outstanding = self._outstanding.get(tp)
        if outstanding is not None:
            outstanding.discard(offset)
        self._seen(tp, offset)

    def done_all(self, tp: Any, offsets: list[int]) -> None:
        """``done`` for many offsets of one partition at once (a batch processed at once)."""
        if not offsets:
            return
        outstanding = self._outstanding.get(tp)
        if outstanding:
            outstanding.difference_update(offsets)
        self._seen(tp, max(offsets))

    def _seen(self, tp: Any, offset: int) -> None:
        if offset > self._high.get(tp, -1):
            self._high[tp] = offset

    def watermark(self, tp: Any) -> int | None:
        if tp not in self._high:
            return None
        outstanding = self._outstanding.get(tp)
        return min(outstanding) if outstanding else self._high[tp] + 1

    def pending(self, tps: Any = None) -> dict[Any, OffsetAndMetadata]:
        """``{tp: OffsetAndMetadata}`` for partitions whose watermark moved since the last commit."""
        out = {}
        for tp in list(self._high) if tps is None else tps:
            wm = self.watermark(tp)
            if wm is not None and wm > self._committed.get(tp, -1):
                out[tp] = OffsetAndMetadata(wm, "", -1)
        return out

    def mark_committed(self, offsets: dict[Any, Any]) -> None:
        for tp, om in offsets.items():
            self._committed[tp] = max(self._committed.get(tp, -1), int(getattr(om, "offset", om)))

    def drop(self, tps: Any) -> None:
        for tp in tps:
            self._outstanding.pop(tp, None)
            self._high.pop(tp, None)
            self._committed.pop(tp, None)
