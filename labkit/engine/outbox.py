"""Writes whose acknowledgement decides a commit: the DLT copy of a failed record, its hand-over
to the retry topic. Each is sent at once and kept here with what to do once the broker
acknowledged it; :meth:`Outbox.flush` waits for them all, once per poll instead of one round trip
per failed record. The consumer flushes before every commit and every poll, so only acknowledged
records are committed and no rebalance falls in between (ARCHITECTURE.md, "the DLT before the
commit").

A write may also be settled early, by key, from another thread (:meth:`Outbox.settle`): the
retry topic's own consumer can receive a hand-over before the main consumer flushed it, and
settles it first, so that its SentToRetryTopic comes before the retry's Received.

>>> box, done = Outbox(), []
>>> box.add(lambda: done.append("DLT ack"))
>>> box.add(lambda: done.append("retry ack"), key=("orders", 0, 7, 1))
>>> box.settle(("orders", 0, 7, 1)), done
(True, ['retry ack'])
>>> len(box), box.flush(), done, len(box)
(2, None, ['retry ack', 'DLT ack'], 0)
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable

__all__ = ["Outbox"]


class _Write:
    """One sent write's on-acknowledged action, run once whichever thread comes first."""

    __slots__ = ("action", "lock", "done")

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.lock = threading.Lock()
        self.done = False

    def run(self) -> None:
        with self.lock:  # a second caller waits until the first one's action is over
            if not self.done:
                self.action()  # raises if never acknowledged: not done, the flush raises it again
                self.done = True


class Outbox:
    """Sent writes, each with its on-acknowledged action (which waits for the ack, or raises)."""

    def __init__(self) -> None:
        self._sent: list[_Write] = []
        self._by_key: dict[Hashable, _Write] = {}
        self._lock = threading.Lock()

    def add(self, on_acknowledged: Callable[[], None], key: Hashable | None = None) -> None:
        write = _Write(on_acknowledged)
        with self._lock:
            self._sent.append(write)
            if key is not None:
                self._by_key[key] = write

    def flush(self) -> None:
        """Wait for every write sent since the last flush, in order, and run what follows its ack.
        A write that fails raises: its record stays uncommitted and is delivered again."""
        with self._lock:  # an action never sends another write: one swap suffices
            sent, self._sent = self._sent, []
        for write in sent:
            write.run()
        self._forget(sent)

    def settle(self, key: Hashable) -> bool:
        """Run the action of the write sent under ``key`` now, if it is still pending (False if none is)."""
        with self._lock:
            write = self._by_key.get(key)
        if write is None:
            return False
        write.run()
        return True

    def drop(self) -> None:
        """Forget writes never acknowledged (an error mid-step): their records are not done here."""
        with self._lock:
            self._sent.clear()
            self._by_key.clear()

    def _forget(self, sent: list[_Write]) -> None:
        if not self._by_key:
            return
        with self._lock:
            for key in [k for k, w in self._by_key.items() if w.done or w in sent]:
                del self._by_key[key]

    def __len__(self) -> int:
        return len(self._sent)
