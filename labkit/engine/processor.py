"""The course's order consumer, :class:`OrderProcessor`: poll -> handle -> commit, with retries, the DLT,
a circuit breaker and rebalance safety. Why it works the way it does (the three ways a record ends, the
done watermark, the three retry modes, the breaker, idempotence) is ARCHITECTURE.md's section on the
engine.

This module holds the processor's state and lifecycle (init, start / stop / run, open / close); the rest
of its methods live with the idea they serve, as mixins (each module says why not a collaborator),
and its breaker pause is a collaborator (:mod:`labkit.engine.breaker_pause`, ``breaker_pause``):

* :mod:`labkit.engine.handling`: one record handled, retried, succeeded (and :class:`HandleResult`);
* :mod:`labkit.engine.dead_letter`: the DLT write, records the client cannot decode;
* :mod:`labkit.engine.loop`: one poll step and the commit of the done watermark;
* :mod:`labkit.engine.membership`: the group, the rebalance hooks, the retry reader, a stuck group.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from labkit.broker.stuck_group import StuckGroupCheck, forget_group
from labkit.broker.watch import BrokerDataLost, BrokerWatch
from labkit.engine.breaker_pause import BreakerPause
from labkit.engine.dead_letter import DeadLetters
from labkit.engine.done import DoneTracker
from labkit.engine.handling import HandleResult, RecordHandling
from labkit.engine.injection import FailureInjector
from labkit.engine.loop import PollLoop
from labkit.engine.membership import GroupMembership
from labkit.engine.modes import MODES, RetryState, mode_for
from labkit.engine.outbox import Outbox
from labkit.engine.rebalance import RebalanceListener
from labkit.engine.retry_topic import DueGate
from labkit.engine.store import OrderStore
from labkit.events import ConsumerStarted, ConsumerStopped, Event, EventLog, partition_tuples
from labkit.kafka import clients
from labkit.policy.breaker import CircuitBreaker
from labkit.policy.retry import RetryPolicy, retry_config
from labkit.settings import Settings
from labkit.wait import WaitTimeout, wait_until

__all__ = ["MODES", "HandleResult", "OrderProcessor"]

log = logging.getLogger("labkit.engine.processor")

FAST_FACTOR = 0.05


class OrderProcessor(RecordHandling, DeadLetters, PollLoop, GroupMembership):
    """The course's order consumer. ARCHITECTURE.md (the engine) says how it behaves.

    Parameters: ``settings``; ``policy`` (default: the module's ``RetryConfig``, ×0.05 when
    ``settings.fast``); ``mode`` (``sleep`` | ``pause`` | ``topic``); ``injector`` (the switchable
    order service); ``events`` (an :class:`EventLog`, shared or private); ``handler(record)``
    (default: ``parse_fields`` + idempotence check + ``injector.call`` + ``store.add_fields``; may return a
    :class:`HandleResult`, an ``Order``, an order id or None); ``store``; ``breaker``;
    ``clock`` (monotonic seconds), ``wall`` (epoch seconds), ``sleep``: injectable;
    ``max_poll_records``; ``group_id``/``consumer_id``/``consumer_overrides``; ``before_commit()``
    (called before each loop commit, e.g. to flush events shipped to another process).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        mode: str = "pause",
        injector: FailureInjector | None = None,
        events: EventLog | None = None,
        handler: Callable[[Any], Any] | None = None,
        store: OrderStore | None = None,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], Any] = time.sleep,
        max_poll_records: int = 100,
        poll_timeout_ms: int = 100,
        group_id: str | None = None,
        consumer_id: str | None = None,
        consumer_overrides: dict[str, Any] | None = None,
        producer: Any = None,
        seed: int | None = 0,
        ack_timeout_s: float = 10.0,
        before_commit: Callable[[], Any] | None = None,
        reads_retry_topic: bool = False,
        main_outbox: Outbox | None = None,
    ) -> None:
        self.settings = settings
        self.reads_retry_topic = reads_retry_topic
        if policy is None:
            policy = retry_config()
            if settings.fast:
                policy = policy.scaled(FAST_FACTOR)
        self.policy = policy
        self.mode = mode
        self._mode = mode_for(mode, self)
        self.injector = injector
        self.events = events if events is not None else EventLog()
        self.store = store if store is not None else OrderStore()
        self.handler = handler or self._default_handler
        self.breaker = breaker
        self.clock, self.wall, self.sleep = clock, wall, sleep
        self.max_poll_records = max_poll_records
        self.poll_timeout_ms = poll_timeout_ms
        self.group_id = group_id or settings.group_id
        self.consumer_id = consumer_id or f"{clients.client_id('processor')}-{id(self) & 0xFFFF:04x}"
        self.consumer_overrides = dict(consumer_overrides or {})
        self._producer = clients.ProducerSlot(settings, producer)  # the DLT / retry-topic writes
        self.rng = random.Random(seed)
        self.ack_timeout_s = ack_timeout_s
        self.before_commit = before_commit

        self.consumer: Any = None
        self.error: BaseException | None = None
        self._rebalanced_at = time.monotonic()  # what health measures "partitions without owner" from
        self._watch: BrokerWatch | None = None
        self._stuck: StuckGroupCheck | None = None  # the embedded broker can leave a group stuck
        self.lock = threading.RLock()
        self._tracker = DoneTracker()
        self.gate = DueGate()
        self.retry_states: dict[tuple[Any, int], RetryState] = {}  # the pause mode's held records
        self.outbox = Outbox()  # DLT / retry-topic writes of this step, done once acknowledged
        # the retry reader's: the main consumer's outbox, whose hand-overs it may receive before
        # they were flushed there (it settles them first: the events stay in the order things happened)
        self.main_outbox = main_outbox
        self._assignment: set[Any] = set()
        self.breaker_pause = BreakerPause(self)  # owns the paused flag
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self.retry_reader: OrderProcessor | None = None  # topic mode: the retry topic's own consumer
        if breaker is not None and not reads_retry_topic:  # the main processor reports the breaker's changes
            self.breaker_pause.report_changes(breaker)

    # --- public API ------------------------------------------------------------------------------

    @property
    def topics(self) -> list[str]:
        """What this consumer reads. In topic mode the retry topic has a consumer of its own
        (:attr:`retry_reader`), like Spring Kafka's per-topic containers: its records are never
        fetched behind the backlog of ``orders``."""
        return [self.settings.retry_topic] if self.reads_retry_topic else [self.settings.orders_topic]

    @property
    def client_ids(self) -> list[str]:
        """The client ids of this processor's consumers in the group (its retry reader's too)."""
        has_reader = self.mode == "topic" and not self.reads_retry_topic
        return [self.consumer_id] + ([f"{self.consumer_id}-retry"] if has_reader else [])

    @property
    def stats(self) -> dict[str, Any]:
        stats = self.events.stats()
        with self.lock:
            stats.update(
                store=len(self.store),
                waiting_retry=len(self.gate) + (len(self.retry_reader.gate) if self.retry_reader else 0),
                breaker_paused=self.breaker_pause.paused,
                breaker=None if self.breaker is None else self.breaker.state.value,
                mode=self.mode,
            )
        return stats

    @property
    def assignment(self) -> list[tuple[str, int]]:
        with self.lock:
            return list(partition_tuples(self._assignment))

    @property
    def running(self) -> bool:
        return self._running.is_set()

    def contact(self) -> tuple[float | None, bool, float]:
        """What health needs: ``(seconds since the group coordinator last answered or None, a join in
        progress?, seconds since the last rebalance ended)``. Read on any thread, no network call."""
        now = time.monotonic()
        when, rebalancing = clients.group_contact(self.consumer) if self.consumer is not None else (None, False)
        return (None if when is None else now - when), rebalancing, now - self._rebalanced_at

    def start(self) -> OrderProcessor:
        """Run in a background thread (``stop()`` ends it cleanly)."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("processor already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run_quietly, name=f"labkit-processor-{self.consumer_id}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the loop: commit done offsets, close the consumer (it leaves the group)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                raise TimeoutError(f"processor {self.consumer_id} did not stop within {timeout_s}s")
            self._thread = None

    def __enter__(self) -> OrderProcessor:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def run(
        self,
        stop: threading.Event | None = None,
        until: Callable[[], bool] | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Run the loop in this thread until ``stop`` is set, ``until()`` is true or ``timeout_s``
        passes. Returns :attr:`stats`. Raises if a DLT / retry-topic write fails (loudly, with the
        record left uncommitted)."""
        deadline = None if timeout_s is None else self.clock() + timeout_s
        reason = "stopped"
        self._open()
        try:
            while True:
                if (stop is not None and stop.is_set()) or self._stop.is_set():
                    break
                if until is not None and until():
                    reason = "until"
                    break
                if deadline is not None and self.clock() >= deadline:
                    reason = "timeout"
                    break
                if self._stuck is not None and self._stuck.enabled and \
                        self._stuck.stuck(self._owns_its_share(), self._members):
                    self._rejoin_stuck_group()
                    continue
                self._step()
        except BaseException as exc:
            reason = f"error: {exc!r}"
            self.error = exc
            log.exception("processor %s stopped on an error", self.consumer_id)
            raise
        finally:
            self._close(reason)
        return self.stats

    # --- lifecycle -------------------------------------------------------------------------------

    def _run_quietly(self) -> None:
        try:
            self.run()
        except BaseException:  # already logged and stored in self.error
            pass

    def emit(self, event: Event) -> None:
        if not event.consumer:
            # stamp our id on the fresh, not yet shared event (what the frozen __init__ does
            # itself) rather than build it a second time, field by field, for every event
            object.__setattr__(event, "consumer", self.consumer_id)
        self.events.append(event)

    @property
    def producer(self) -> Any:
        return self._producer.get()

    def _open(self) -> None:
        listener = RebalanceListener(
            emit=self.emit,
            consumer_id=self.consumer_id,
            done_offsets=self._done_offsets,
            forget=self._forget,
            assigned=self._assigned,
        )
        config = {"client_id": self.consumer_id, "group_id": self.group_id, "max_poll_records": self.max_poll_records}
        self.consumer = clients.consumer(self.settings, **(config | self.consumer_overrides))
        listener.consumer = self.consumer
        self.consumer.subscribe(self.topics, listener=listener)
        # raises BrokerDataLost from the loop if the (embedded) broker restarts empty under us
        self._watch = BrokerWatch(self.settings.host_port, self.topics, expected=self.settings.topics).start()
        self._running.set()
        self.emit(ConsumerStarted(group_id=self.group_id, topics=tuple(self.topics), mode=self.mode))
        if not self.reads_retry_topic:  # the main consumer speaks for its retry reader too
            self._stuck = StuckGroupCheck.for_consumer(self.settings, own=len(self.group_client_ids))
        log.info("processor %s started: mode=%s topics=%s group=%s", self.consumer_id, self.mode, self.topics,
                 self.group_id)
        if self.mode == "topic" and not self.reads_retry_topic:
            self.retry_reader = self._retry_reader().start()
            # the main consumer joins (at its first poll) once its retry reader is in the group: one
            # rebalance, before anything is held. Bounded: a group kept busy by a crashed member must
            # not hold the start back longer than a session timeout.
            try:
                wait_until(lambda: self.retry_reader.assignment or self.retry_reader.error,
                           self.settings.session_timeout_ms / 1000, "the retry reader to join")
            except WaitTimeout:
                log.info("processor %s: its retry reader has no partitions yet; consuming anyway", self.consumer_id)


    def _close(self, reason: str) -> None:
        try:
            if self.consumer is not None:
                if not reason.startswith("error"):
                    self._commit_done()
                else:  # commit what is really done, never the failing record
                    try:
                        self._commit_done()
                    except Exception:
                        pass
                self.consumer.close(autocommit=False)
                if isinstance(self.error, BrokerDataLost) and self.error.memory_restart:
                    # our rejoin left this group stuck on the new, empty broker: clear it
                    forget_group(self.settings, self.group_id)
        finally:
            if self.retry_reader is not None:  # before the producer it shares is closed
                try:
                    self.retry_reader.stop()
                except Exception as exc:  # noqa: BLE001 - the main consumer still closes
                    log.error("the retry reader of %s did not stop: %r", self.consumer_id, exc)
                self.retry_reader = None
            self.consumer = None
            with self.lock:
                self._assignment = set()
                self.gate.clear()
                self.retry_states.clear()
            self.outbox.drop()  # left by an error mid-step: never done here, delivered again
            self._producer.close()
            self._running.clear()
            self.emit(ConsumerStopped(reason=reason))
            log.info("processor %s stopped (%s)", self.consumer_id, reason)
