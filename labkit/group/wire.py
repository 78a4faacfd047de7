"""The events wire between a group's processes, both ends: each worker publishes every event it emits
to the events topic (``settings.events_topic``, keyed by its name, value the JSON of
``event.to_dict()``, a run-id header), and the supervisor reads this run's events back into the
notebook's :class:`~labkit.events.EventLog`.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from typing import Any

from labkit.events import EventLog, event_from_dict
from labkit.kafka import clients, topics
from labkit.kafka.offsets import log_end_offsets
from labkit.settings import Settings
from labkit.wait import WaitTimeout

__all__ = ["RUN_HEADER", "EventPublisher", "EventReader"]

log = logging.getLogger("labkit.consumer")

RUN_HEADER = "labkit-run"


class EventPublisher:
    """Ships events to the events topic from its own thread (the rebalance events are emitted on
    kafka-python's IO thread, which must never block on another client).

    :meth:`flush` waits until every event emitted so far is acknowledged by the broker. The
    processor calls it before each offset commit (``before_commit``): once an offset is committed
    the record is never delivered again, so its ``Processed`` / ``SentToDLT`` event must already be
    safe in the events topic - a SIGKILL right after the commit must not erase it from the ledger.
    """

    def __init__(self, settings: Settings, name: str, run_id: str | None = None) -> None:
        self.settings, self.name, self.run_id = settings, name, run_id
        try:  # Apache Kafka creates no topic on first use (auto.create.topics.enable=false): without it
            # every event would block max_block_ms and commits would wait on a flush that cannot end
            topics.create(settings, wanted={settings.events_topic: 1})
        except Exception as exc:  # the events topic is an observer: never stop the consumer for it
            log.warning("could not create the events topic %s: %r", settings.events_topic, exc)
        self.producer = clients.producer(settings)
        self.sent = self.failed = 0
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0  # emitted, not yet handed to the producer
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="labkit-event-publisher", daemon=True)
        self._thread.start()

    def __call__(self, event: Any) -> None:
        with self._idle:
            self._pending += 1
        self._queue.put(event)

    def _run(self) -> None:
        headers = [(RUN_HEADER, self.run_id.encode())] if self.run_id else []
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                value = json.dumps(event.to_dict(), separators=(",", ":"), default=str).encode()
                self.producer.send(self.settings.events_topic, key=self.name.encode(), value=value,
                                   headers=headers)
                self.sent += 1
            except Exception as exc:  # the events topic is an observer: never break the consumer
                self.failed += 1
                log.warning("could not publish event %s: %r", event.kind, exc)
            finally:
                with self._idle:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.notify_all()

    def flush(self, timeout_s: float = 10.0) -> None:
        """Block until every event emitted so far is acknowledged (raises on timeout)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{self._pending} events not yet handed to the producer")
                self._idle.wait(left)
        self.producer.flush(timeout=max(0.1, deadline - time.monotonic()))

    def close(self, timeout_s: float = 5.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
        try:
            self.producer.flush(timeout=timeout_s)
        finally:
            self.producer.close(timeout=timeout_s)


class EventReader:
    """The supervisor's end: a thread that reads the events of run ``run_id`` (by header) from the
    events topic, from its end when started (this run's events only), into ``events``."""

    def __init__(self, settings: Settings, run_id: str, events: EventLog) -> None:
        self.settings, self.run_id, self.events = settings, run_id, events
        self.error: BaseException | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="labkit-group-events", daemon=True)

    def start(self, timeout_s: float = 30.0) -> EventReader:
        """Create the events topic if needed, start reading; raises if the reader could not start."""
        topics.create(self.settings, wanted={self.settings.events_topic: 1})
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise WaitTimeout(f"the events reader did not start: {self.error!r}")
        if self.error is not None:
            raise self.error
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout_s)

    def _read(self) -> None:
        try:
            reader = clients.reader(self.settings)
            ends = log_end_offsets(self.settings, self.settings.events_topic)
            tps = sorted(ends)
            reader.assign(tps)
            for tp in tps:  # this run's events only: start at the (correct) log end
                reader.seek(tp, ends[tp])
        except BaseException as exc:
            self.error = exc
            self._ready.set()
            return
        self._ready.set()
        run = self.run_id.encode()
        try:
            while not self._stop.is_set():
                try:
                    batch = reader.poll(timeout_ms=100)
                except Exception as exc:  # broker hiccup: keep reading
                    self.error = exc
                    time.sleep(0.2)
                    continue
                for records in batch.values():
                    for r in records:
                        if dict(r.headers or []).get(RUN_HEADER) != run:
                            continue
                        try:
                            self.events.append(event_from_dict(json.loads(r.value)))
                        except (ValueError, TypeError):
                            pass
        finally:
            reader.close()
