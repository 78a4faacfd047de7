"""A consumer whose loop runs on a thread of its own: what the two confluent-kafka workers
(:class:`~labkit.engine.share.ShareWorker`, :class:`~labkit.engine.kip848.Kip848Worker`) share.

A subclass sets ``name`` and :attr:`~BackgroundWorker.THREAD_PREFIX` and writes ``run``, a loop that
ends soon after ``self._stop`` is set (it checks it after every poll, or waits on it)."""

from __future__ import annotations

import threading
from typing import Self

__all__ = ["BackgroundWorker"]


class BackgroundWorker:
    """``start`` / ``request_stop`` / ``stop`` / ``alive`` around a subclass's ``run``, on a daemon thread
    named ``<THREAD_PREFIX>-<name>``."""

    THREAD_PREFIX = "labkit-worker"
    name: str

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        raise NotImplementedError

    def start(self) -> Self:
        self._thread = threading.Thread(target=self.run, name=f"{self.THREAD_PREFIX}-{self.name}", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to end after its current poll, without waiting (a group stops all its members at once)."""
        self._stop.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop after the current poll and wait up to ``timeout_s`` for the loop to end (it commits what
        it did, then the consumer leaves)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()
