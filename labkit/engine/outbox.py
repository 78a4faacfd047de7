"""Writes whose acknowledgement decides a commit: the DLT copy of a failed record, its hand-over
to the retry topic. Each is sent at once and kept here with what to do once the broker
acknowledged it; :meth:`Outbox.flush` waits for them all, once per poll instead of one round trip
per failed record. The consumer flushes before every commit and every poll, so only acknowledged
records are committed and no rebalance falls in between (ARCHITECTURE.md, "the DLT before the
commit").

>>> box, done = Outbox(), []
>>> box.add(lambda: done.append("DLT ack"))
>>> len(box), box.flush(), done
(1, None, ['DLT ack'])
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Outbox"]


class Outbox:
    """Sent writes, each with its on-acknowledged action (which waits for the ack, or raises)."""

    def __init__(self) -> None:
        self._sent: list[Callable[[], None]] = []

    def add(self, on_acknowledged: Callable[[], None]) -> None:
        self._sent.append(on_acknowledged)

    def flush(self) -> None:
        """Wait for every write sent since the last flush, in order, and run what follows its ack.
        A write that fails raises: its record stays uncommitted and is delivered again."""
        sent, self._sent = self._sent, []  # an action never sends another write: one swap suffices
        for on_acknowledged in sent:
            on_acknowledged()

    def drop(self) -> None:
        """Forget writes never acknowledged (an error mid-step): their records are not done here."""
        self._sent.clear()

    def __len__(self) -> int:
        return len(self._sent)
