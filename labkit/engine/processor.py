"""The consumer loop: poll -> handle -> commit, with retries, DLT, circuit breaker, rebalance safety.

Every record ends in exactly one of three ways, and only then is its offset committable:

* **processed** (parsed, the downstream "order service" called, the order id stored);
* **sent to the DLT** (permanent error at once, or transient error after the policy's last retry,
  ``retryCount`` = retries made), *after* the DLT write is acknowledged;
* **handed to the retry topic** (``topic`` mode), *after* that write is acknowledged.

A record the client library cannot decode is a permanent failure like any other: sent to the DLT with
reason ``CorruptRecord``, then committed past. One with a header key that is not UTF-8 is read anyway
(:mod:`labkit.kafka.corrupt`), reaches the loop with its key and value, and never reaches the handler;
anything else that makes ``poll()`` itself raise (``CorruptRecordError``, ``UnicodeDecodeError``) is
dead-lettered by its coordinates: the record at the failing partition's position, after the DLT's ack
the consumer seeks past it and commits. Either way the partition keeps flowing.

The DLT and retry-topic writes of one poll are sent without waiting and their acks awaited
together before the commit (and before the next poll): one wait per poll, not one round trip per
failed record.

Offsets are committed from a per-partition contiguous **done watermark**: the lowest offset
received but not done yet (or the last done + 1). Never the consumer's position, which may be
past a record still waiting for its retry.

Transient failures are retried by the :class:`~labkit.policy.retry.RetryPolicy` in one of three modes:

``sleep``
    the module's naive ``sleepWithBackoff``: ``time.sleep(delay)`` in the loop. Kept to *show the
    pitfall*: when the total backoff exceeds ``max_poll_interval_ms`` the client leaves the group,
    the partitions go to another member (or back to us after a rejoin), the commit fails
    (``CommitFailedError`` -> a ``CommitFailed`` event) and the records are delivered again,
    and are counted as duplicates. Nothing is lost, but it is not pretty.
``pause``
    blocking but safe: pause the partition, keep the failed record (and those fetched behind it)
    aside, keep polling (the consumer stays in the group however long the backoff), retry when
    due, then resume. Other partitions keep flowing. Records behind the failed one in the same
    partition wait (ordering is kept).
``topic``
    non-blocking: publish to the retry topic with the retry state in headers, commit, move on
    (:mod:`labkit.engine.retry_topic`). The retry topic has its own consumer
    (:attr:`OrderProcessor.retry_reader`, same group but on the embedded broker, own thread), so its
    records are not fetched behind the backlog of ``orders``; it never processes a record before its
    due time (pause, keep aside, handle when due, resume). Ordering per key is not kept.

A :class:`~labkit.policy.breaker.CircuitBreaker` (optional) counts transient failures: when it opens,
consumption of every assigned partition pauses (the failed record is put back, no retry spent),
and resumes when the breaker half-opens to probe the service.

Processing is idempotent by ``orderId`` (:class:`OrderStore`): a redelivered or replayed order is
counted as a duplicate (``Processed(duplicate=True)``), never applied twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from kafka.errors import CorruptRecordError, KafkaError

from labkit.broker.stuck_group import StuckGroupCheck, forget_group, group_members, reset_stuck_group, retry_group_id
from labkit.broker.watch import BrokerDataLost, BrokerWatch
from labkit.dlt.envelope import SourceCoords
from labkit.dlt.publish import send_to_dlt
from labkit.engine.done import DoneTracker
from labkit.engine.injection import FailureInjector
from labkit.engine.modes import AGAIN, HANDED_OVER, MODES, Failure, RetryState, mode_for
from labkit.engine.outbox import Outbox
from labkit.engine.rebalance import RebalanceListener, format_partitions, offsets_tuple
from labkit.engine.retry_topic import DueGate, RetryHeaders, resume
from labkit.engine.store import OrderStore
from labkit.errors import MaxRetriesExceeded, classify, describe, error_label
from labkit.events import (
    BreakerStateChanged,
    CommitFailed,
    Committed,
    ConsumerStarted,
    ConsumerStopped,
    ConsumptionPaused,
    ConsumptionResumed,
    Event,
    EventLog,
    Processed,
    ProcessedRow,
    Received,
    Retried,
    RetryScheduled,
    SentToDLT,
    partition_tuples,
)
from labkit.kafka import clients
from labkit.kafka.corrupt import CorruptRecord, corruption, failed_partition
from labkit.orders import Order, parse_fields
from labkit.policy.breaker import BreakerState, CircuitBreaker
from labkit.policy.retry import RetryPolicy, retry_config
from labkit.settings import Settings
from labkit.wait import WaitTimeout, wait_until

__all__ = ["MODES", "HandleResult", "OrderProcessor"]

log = logging.getLogger("labkit.engine.processor")

FAST_FACTOR = 0.05
RETRY_FETCH_MAX_WAIT_MS = 20  # the retry reader's long poll: its lateness bound after a hold


class HandleResult(NamedTuple):
    """What a handler returns: the order id and whether it was a duplicate (an immutable tuple:
    built once per record, three times cheaper than a frozen dataclass)."""

    order_id: str | None
    duplicate: bool = False


def _key_text(key: bytes | None) -> str | None:
    return None if key is None else key.decode("utf-8", errors="replace")


def _log_duplicate(order_id: str | None, offset: int, topic: str, partition: int) -> None:
    log.info("duplicate order %s at offset %d of %s-%d: counted, not applied again", order_id, offset, topic, partition)


class OrderProcessor:
    """The course's order consumer. See the module docstring for the semantics.

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
        self._producer = producer
        self._own_producer = producer is None
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
        self._breaker_paused = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._running = threading.Event()
        self.retry_reader: OrderProcessor | None = None  # topic mode: the retry topic's own consumer
        if breaker is not None and not reads_retry_topic:  # the main processor reports the breaker's changes
            previous = breaker.on_state_change

            def on_change(old: BreakerState, new: BreakerState) -> None:
                self.emit(BreakerStateChanged(old=old.value, new=new.value))
                log.warning("circuit breaker %s -> %s", old.value, new.value)
                if previous is not None:
                    previous(old, new)

            breaker.on_state_change = on_change

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
    def group_client_ids(self) -> list[str]:
        """Those of :attr:`client_ids` that are members of :attr:`group_id` (the retry reader has a
        group of its own on the embedded broker: :func:`~labkit.broker.stuck_group.retry_group_id`)."""
        ids = self.client_ids
        if len(ids) > 1 and retry_group_id(self.settings, self.group_id) != self.group_id:
            return ids[:1]
        return ids

    @property
    def stats(self) -> dict[str, Any]:
        stats = self.events.stats()
        with self.lock:
            stats.update(
                store=len(self.store),
                waiting_retry=len(self.gate) + (len(self.retry_reader.gate) if self.retry_reader else 0),
                breaker_paused=self._breaker_paused,
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
                if self._stuck is not None and self._stuck.stuck(bool(self._assignment), self._members):
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
            # itself): rebuilding it field by field cost a third of the per-record overhead
            object.__setattr__(event, "consumer", self.consumer_id)
        self.events.append(event)

    @property
    def producer(self) -> Any:
        if self._producer is None:
            self._producer = clients.producer(self.settings)
        return self._producer

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

    def _members(self) -> list[Any]:
        return group_members(self.settings, self.group_id)

    def _rejoin_stuck_group(self) -> None:
        """No partition for far longer than a rebalance, alone in the group, on the embedded
        broker: it left the group stuck (:mod:`labkit.broker.stuck_group`). Leave, have the group
        reset with its committed offsets kept, join again."""
        log.warning("processor %s: no partition after %.0f s alone in group %s: the embedded broker left the "
                    "group stuck; leaving it, resetting it (committed offsets kept) and joining again",
                    self.consumer_id, self._stuck.after_s, self.group_id)
        self._close("rejoining: the embedded broker left the group stuck")
        try:
            kept = reset_stuck_group(self.settings, self.group_id)
            log.info("group %s reset, %d committed offsets kept", self.group_id, kept)
        except Exception as exc:  # noqa: BLE001 - joining again may still work
            log.warning("group %s could not be reset: %s", self.group_id, describe(exc))
        self._open()

    def _retry_reader(self) -> OrderProcessor:
        """The retry topic's consumer: same group (a group of its own on the embedded broker:
        :func:`~labkit.broker.stuck_group.retry_group_id`), handler, store, events, breaker and
        producer; its own thread, partitions and due-time gate."""
        # a partition resumed after a hold is fetched again only once the fetch in flight returns, and
        # on a quiet retry topic the broker holds that one for fetch.max.wait.ms (500 ms): keep it short
        overrides = {"fetch_max_wait_ms": RETRY_FETCH_MAX_WAIT_MS} | dict(self.consumer_overrides)
        if overrides.get("group_instance_id"):  # static membership: one instance id per member
            overrides["group_instance_id"] = f"{overrides['group_instance_id']}-retry"
        return OrderProcessor(
            self.settings, policy=self.policy, mode="topic", injector=self.injector, events=self.events,
            handler=self.handler, store=self.store, breaker=self.breaker, clock=self.clock, wall=self.wall,
            sleep=self.sleep, max_poll_records=self.max_poll_records, poll_timeout_ms=self.poll_timeout_ms,
            group_id=retry_group_id(self.settings, self.group_id), consumer_id=self.client_ids[1],
            consumer_overrides=overrides,
            producer=self.producer, seed=self.rng.randrange(2**32), ack_timeout_s=self.ack_timeout_s,
            before_commit=self.before_commit, reads_retry_topic=True, main_outbox=self.outbox,
        )

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
            if self._own_producer and self._producer is not None:
                try:
                    self._producer.close(timeout=5)
                finally:
                    self._producer = None
            self._running.clear()
            self.emit(ConsumerStopped(reason=reason))
            log.info("processor %s stopped (%s)", self.consumer_id, reason)

    # --- rebalance hooks (called on kafka-python's IO thread while poll()/close() blocks) --------

    def _done_offsets(self, tps: set[Any]) -> dict[Any, Any]:
        with self.lock:
            return self._tracker.pending(tps)

    def _forget(self, tps: set[Any], lost: bool) -> None:
        with self.lock:
            back = self.gate.drop(tps)
        consumer = self.consumer
        for tp, offset in back.items():
            # kafka-python keeps the position of a partition it assigns again: put it back on the
            # first record kept aside, or those records would be skipped
            try:
                consumer.seek(tp, offset)
            except Exception:  # noqa: BLE001 - no longer assigned: its position is gone anyway
                pass
        with self.lock:
            self._tracker.drop(tps)
            for key in [k for k in self.retry_states if k[0] in tps]:
                del self.retry_states[key]
            self._assignment -= set(tps)

    def _assigned(self, tps: set[Any]) -> None:
        """kafka-python 3 keeps the state (position, *paused flag*) of partitions retained across a
        rebalance. Their backoff state was dropped on revoke, so nobody would ever resume them
        (Spring's #2525): resume them here. Their position is the done watermark (every record
        before it is done: a held partition was put back on its first kept record when revoked), so
        the failed record is simply delivered again, from retry 0. Fresh partitions start from the committed
        offset. Non-blocking calls only: this runs on the IO thread."""
        consumer = self.consumer
        self._rebalanced_at = time.monotonic()
        with self.lock:
            self._assignment = set(consumer.assignment()) if consumer is not None else set()
            self._assignment |= set(tps)
            if consumer is None or self._breaker_paused:
                return
            stale = [tp for tp in tps if tp in consumer.paused() and tp not in self.gate]
        if stale:
            resume(consumer, stale)
            log.info("rebalance: resumed %s (their backoff was dropped on revoke; the failed record "
                     "is delivered again)", format_partitions(stale))

    # --- the loop --------------------------------------------------------------------------------

    def _step(self) -> None:
        consumer = self.consumer
        reader = self.retry_reader
        if reader is not None and reader.error is not None:  # loudly: its records stay uncommitted
            raise RuntimeError(f"the retry topic's consumer {reader.consumer_id} stopped: {reader.error!r}") \
                from reader.error
        if self._watch is not None:
            self._watch.check(getattr(consumer, "_cluster", None))  # cached metadata: no network call
        if not self._breaker_paused:  # an open breaker keeps held partitions held
            with self.lock:
                due = self.gate.take_due(self.clock())
            for tp, kept in due.items():
                self._handle_records(tp, kept)
                self.outbox.flush()  # before resume() and poll(): no rebalance while writes are unacked
                with self.lock:
                    resumable = tp not in self.gate and not self._breaker_paused and tp in consumer.assignment()
                if resumable:
                    resume(consumer, [tp])
        self._check_breaker()
        timeout_ms = self.poll_timeout_ms
        next_due = self.gate.next_due()
        if next_due is not None:
            timeout_ms = max(0, min(timeout_ms, int((next_due - self.clock()) * 1000) + 1))
        try:
            batch = consumer.poll(timeout_ms=timeout_ms, max_records=self.max_poll_records)
        except (CorruptRecordError, UnicodeDecodeError) as exc:  # a record kafka-python cannot decode
            self._skip_unreadable(exc)
            return
        except KafkaError as exc:  # kafka-python 3 can raise a lost connection out of poll()
            if not exc.retriable:
                raise
            log.warning("poll: the broker is unreachable (%s): polling again", describe(exc))
            return  # nothing polled, nothing to commit; the next step polls again
        for tp, records in batch.items():
            self._handle_records(tp, records)
        self.outbox.flush()
        self._commit_done()

    def _handle_records(self, tp: Any, records: list[Any]) -> None:
        """One partition's records, in order, until one must wait: a record held for its backoff
        (or its due time) keeps the records behind it in the gate, to be handled when due.

        A record met for the first time (not from the retry topic, not being retried) is handled
        here; if it succeeds at once its Received and Processed events are recorded with the batch's
        (:meth:`_record_processed`), else :meth:`_attempt` takes it with its first error. Both ways
        a success goes through :meth:`_succeeded`."""
        consumer = self.consumer
        if tp not in consumer.assignment():
            return
        retrying, breaker, call_handler = self.retry_states, self.breaker, self._call_handler
        from_retry_topic = tp.topic == self.settings.retry_topic  # one partition's records: one topic
        processed: list[ProcessedRow] = []
        # when the record in hand was taken up: the batch's start, then the end of the one before
        # (one clock read per record; it is also the previous record's Processed time)
        received_at = self.wall()
        try:
            for i, record in enumerate(records):
                if self._breaker_paused:
                    consumer.seek(tp, record.offset)  # put the unhandled rest back
                    return
                if record.headers and (corrupt := corruption(record)) is not None:  # never handled
                    self._record_processed(tp, processed)
                    self._dead_letter_corrupt(tp, record, corrupt)
                    received_at = self.wall()
                    continue
                if from_retry_topic or (retrying and (tp, record.offset) in retrying):
                    self._record_processed(tp, processed)
                    ok = self._handle(tp, record)
                elif breaker is not None and not breaker.allow():
                    self._record_processed(tp, processed)
                    self._pause_all(tp, record.offset, f"circuit breaker {breaker.state.value}")
                    return
                else:
                    try:
                        result = call_handler(record)
                    except Exception as exc:  # noqa: BLE001 - classified by _attempt, none is lost
                        self._record_processed(tp, processed)  # the events keep their order
                        ok = self._attempt(tp, record, first_error=exc, received_at=received_at)
                    else:
                        received_at = self._succeeded(tp, record, result, 0, processed, received_at)
                        continue
                received_at = self.wall()  # the record took the slow path: the next one starts now
                if not ok:
                    with self.lock:
                        self.gate.keep(tp, records[i + 1:])  # no-op unless the record was held
                    return
        finally:
            self._record_processed(tp, processed)

    def _record_processed(self, tp: Any, processed: list[ProcessedRow]) -> None:
        """Mark the records processed at their first attempt done and record their Received and
        Processed events in one step (:meth:`EventLog.record_processed`); empties ``processed``."""
        if not processed:
            return
        with self.lock:
            self._tracker.done_all(tp, [row[3] for row in processed])
        self.events.record_processed(processed)
        processed.clear()

    def _commit_done(self) -> None:
        consumer = self.consumer
        with self.lock:
            offsets = self._tracker.pending(consumer.assignment())
        if not offsets:
            return
        if self.before_commit is not None:
            # e.g. flush the events shipped to another process: once the offset is committed, a
            # SIGKILL must not be able to erase the record's Processed / SentToDLT event
            try:
                self.before_commit()
            except Exception as exc:  # noqa: BLE001 - no commit this round: the records stay pending
                log.warning("before_commit failed (%r): commit postponed", exc)
                return
        try:
            consumer.commit(offsets)
        except KafkaError as exc:
            self.emit(CommitFailed(error=f"{type(exc).__name__}: {exc}", offsets=offsets_tuple(offsets)))
            log.warning(
                "commit of %s FAILED (%s): those records will be delivered again (duplicates are counted)",
                offsets_tuple(offsets), type(exc).__name__,
            )
            return
        with self.lock:
            self._tracker.mark_committed(offsets)
        self.emit(Committed(offsets=offsets_tuple(offsets)))

    def _check_breaker(self) -> None:
        breaker, consumer = self.breaker, self.consumer
        if breaker is None:
            return
        state = breaker.state
        if self._breaker_paused and state is not BreakerState.OPEN:
            with self.lock:
                self._breaker_paused = False
                resumable = [tp for tp in consumer.assignment() if tp not in self.gate]
            if resumable:
                resume(consumer, resumable)
            self.emit(ConsumptionResumed(partitions=partition_tuples(resumable), reason=f"breaker {state.value}"))
            log.info("circuit breaker %s: consumption resumed on %s", state.value, format_partitions(resumable))
        elif self._breaker_paused:
            assigned = consumer.assignment()
            if assigned - consumer.paused():  # a rebalance gave us fresh, unpaused partitions
                consumer.pause(*assigned)

    def _pause_all(self, tp: Any, offset: int, reason: str) -> None:
        consumer = self.consumer
        consumer.seek(tp, offset)
        assigned = consumer.assignment()
        consumer.pause(*assigned)
        with self.lock:
            self._breaker_paused = True
        self.emit(ConsumptionPaused(partitions=partition_tuples(assigned), reason=reason))
        log.warning("%s: consumption paused on %s", reason, format_partitions(assigned))

    # --- records the client cannot decode ------------------------------------------------------------

    def _dead_letter_corrupt(self, tp: Any, record: Any, error: CorruptRecord) -> None:
        """A record the client could not decode (``record``: a ConsumerRecord read leniently, or the
        :class:`SourceCoords` of one it could not read at all): received, sent to the DLT at once, done
        once acknowledged. Never handed to the handler, never retried."""
        coords = {"topic": record.topic, "partition": record.partition, "offset": record.offset,
                  "key": _key_text(record.key)}
        with self.lock:
            self._tracker.received(tp, record.offset)
        self.emit(Received(attempt=0, **coords))
        log.warning("offset %d of %s-%d cannot be decoded: %s; it goes to the DLT (reason %s)",
                    record.offset, record.topic, record.partition, error, error_label(error))
        self._to_dlt(tp, record, error, 0, None, coords)

    def _skip_unreadable(self, exc: Exception) -> None:
        """``poll()`` raised on a record kafka-python cannot decode (``exc``): dead-letter the record at
        the failing partition's position by its coordinates, and once the DLT acknowledged it, seek past
        it and commit. Raises ``exc`` again if the partition cannot be told (nothing is skipped blind).

        The seek also frees kafka-python's fetcher, which would otherwise spin on the dead record
        iterator at the next poll (:mod:`labkit.kafka.corrupt`). A batch kafka-python cannot read at
        all costs one poll per record: each offset is dead-lettered on its own, none skipped unrecorded."""
        consumer = self.consumer
        tp = failed_partition(consumer)
        if tp is None or tp not in consumer.assignment():
            raise exc
        offset = consumer.position(tp)
        source = SourceCoords.unreadable_at(tp.topic, tp.partition, offset)
        self._dead_letter_corrupt(tp, source, CorruptRecord.unreadable(tp.topic, tp.partition, offset, exc))
        self.outbox.flush()  # the DLT's ack first: if it fails, this raises and nothing is skipped
        consumer.seek(tp, offset + 1)
        self._commit_done()

    # --- one record ------------------------------------------------------------------------------

    def _default_handler(self, record: Any) -> str | HandleResult:
        """Validate, call the order service (when injected), store by orderId: the order id, or a
        duplicate's HandleResult."""
        order_id, amount, status = parse_fields(record.value)  # an Order only for the service: ~0.2 µs
        if self.injector is not None:
            if order_id in self.store:  # a duplicate does not call the order service again
                return HandleResult(order_id, duplicate=True)
            self.injector.call(Order(order_id, amount, status))
        if self.store.add_fields(order_id, amount, status):
            return order_id  # a new order: its id says it all (no HandleResult to build, ~0.1 µs)
        return HandleResult(order_id, duplicate=True)

    def _call_handler(self, record: Any) -> tuple[str | None, bool]:
        """``(order_id, duplicate)`` of the handler's answer (an order id alone, the default handler's
        usual answer, is a new order)."""
        result = self.handler(record)
        if type(result) is str:
            return result, False
        return result if type(result) is HandleResult else self._as_result(result, record)

    @staticmethod
    def _as_result(result: Any, record: Any) -> HandleResult:
        """What a custom handler returned -> a :class:`HandleResult`."""
        if isinstance(result, HandleResult):
            return result
        if isinstance(result, Order):
            return HandleResult(result.order_id)
        if isinstance(result, str):
            return HandleResult(result)
        return HandleResult(_key_text(record.key))

    def _handle(self, tp: Any, record: Any) -> bool:
        """Handle a record from the retry topic or being retried; False = stop reading this
        partition for now (held or paused)."""
        headers: RetryHeaders | None = None
        original: SourceCoords | None = None
        attempt = 0
        if record.topic == self.settings.retry_topic:
            try:
                headers = RetryHeaders.decode(record.headers)
            except ValueError as exc:
                log.error("record %s-%d@%d in the retry topic has no retry headers: %s",
                          record.topic, record.partition, record.offset, exc)
            if headers is not None:
                if self.main_outbox is not None:
                    self._settle_handover(headers)
                now_ms = self.wall() * 1000
                if now_ms < headers.due_ms:  # never before its due time: hold the partition
                    with self.lock:
                        self.gate.hold(self.consumer, tp, record, self.clock() + (headers.due_ms - now_ms) / 1000)
                    return False
                attempt = headers.attempt
                original = headers.source(record)

        breaker = self.breaker
        if breaker is not None and not breaker.allow():
            self._pause_all(tp, record.offset, f"circuit breaker {breaker.state.value}")
            return False
        return self._attempt(tp, record, attempt, headers, original)

    def _settle_handover(self, headers: RetryHeaders) -> None:
        """The main consumer sent this record here and may not have flushed that write yet: run
        its acknowledgement (SentToRetryTopic, the source offset done) before this one's Received.
        A failure is left to the main consumer's flush, which raises it again in its own loop."""
        try:
            self.main_outbox.settle(headers.hop)
        except Exception as exc:  # noqa: BLE001 - the main consumer's flush raises it in its loop
            log.debug("hand-over %s not settled here: %r", headers.hop, exc)

    def _attempt(self, tp: Any, record: Any, attempt: int = 0, headers: RetryHeaders | None = None,
                 original: SourceCoords | None = None, first_error: Exception | None = None,
                 received_at: float | None = None) -> bool:
        """Call the handler until the record is processed, sent to the DLT or handed to the retry
        topic (True), or held for its backoff / paused by the breaker (False). ``first_error``:
        the handler already failed once with it, at ``received_at`` (the first delivery's call)."""
        key = _key_text(record.key)
        coords = {"topic": record.topic, "partition": record.partition, "offset": record.offset, "key": key}
        breaker = self.breaker
        with self.lock:
            self._tracker.received(tp, record.offset)
            state = self.retry_states.get((tp, record.offset))
        if state is not None:
            attempt = state.attempts
        self.emit(Received(attempt=attempt, **coords) if received_at is None
                   else Received(ts=received_at, attempt=attempt, **coords))
        if state is not None:
            self.emit(Retried(attempt=attempt, planned_delay_s=state.planned_s,
                               actual_delay_s=self.clock() - state.failed_at, **coords))
        elif headers is not None:
            self.emit(Retried(attempt=attempt, planned_delay_s=headers.planned_delay_ms / 1000,
                               actual_delay_s=self.wall() - headers.scheduled_ms / 1000, **coords))

        first_failure = state.first_failure_wall if state else (headers.first_failure_ms / 1000 if headers else None)
        previous = state.previous_s if state else (headers.planned_delay_ms / 1000 if headers else None)
        while True:
            exc, first_error = first_error, None
            if exc is None:
                try:
                    result = self._call_handler(record)
                except Exception as failure:  # noqa: BLE001 - every failure is classified, none is lost
                    exc = failure
            if exc is None:
                self._succeeded(tp, record, result, attempt)
                return True
            transient = classify(exc) == "transient"
            if breaker is not None and transient:
                breaker.record_failure()
                if breaker.state is BreakerState.OPEN:
                    # the service is down: put the record back (it stays outstanding, so
                    # the watermark stops before it), spend no retry, stop consuming
                    self._pause_all(tp, record.offset, "circuit breaker OPEN")
                    return False
            if first_failure is None:
                first_failure = self.wall()
            next_attempt = attempt + 1
            elapsed = self.wall() - first_failure
            if not self.policy.should_retry(exc, next_attempt, elapsed):
                retriable = transient and isinstance(exc, self.policy.retry_on)
                error = MaxRetriesExceeded(attempt, exc) if retriable else exc
                self._to_dlt(tp, record, error, attempt, original, coords)
                return True
            delay = self.policy.delay(next_attempt, previous, self.rng)
            log.info(
                "Retry %d/%s for offset %d of %s-%d (key %s): attempt %d failed with %s; "
                "next attempt in %.3fs (mode %s)",
                next_attempt, self.policy.max_attempts, record.offset, record.topic, record.partition,
                key, attempt + 1, describe(exc), delay, self.mode,
            )
            self.emit(RetryScheduled(attempt=next_attempt, max_attempts=self.policy.max_attempts,
                                      planned_delay_s=delay, mode=self.mode, error=describe(exc), **coords))
            outcome = self._mode.retry(Failure(tp, record, exc, next_attempt, delay, first_failure, original, coords))
            if outcome is AGAIN:
                attempt, previous = next_attempt, delay
                continue
            return outcome is HANDED_OVER

    def _succeeded(self, tp: Any, record: Any, result: tuple[str | None, bool], attempt: int,
                   rows: list[ProcessedRow] | None = None, received_at: float | None = None) -> float | None:
        """What every processed record goes through: the breaker hears of the success, a duplicate
        is logged, the record is done. A record done at its first delivery joins ``rows`` (its
        Received and Processed, recorded with its batch; returns when it was done); any other emits
        its Processed now."""
        order_id, duplicate = result
        breaker = self.breaker
        if breaker is not None and not duplicate:
            breaker.record_success()
        if duplicate:
            _log_duplicate(order_id, record.offset, record.topic, record.partition)
        if rows is None:
            self.emit(Processed(attempt=attempt, duplicate=duplicate, order_id=order_id, topic=record.topic,
                                partition=record.partition, offset=record.offset, key=_key_text(record.key)))
            self.done(tp, record.offset)
            return None
        key = record.key
        if key is not None:
            key = key.decode("utf-8", "replace")
            if key == order_id:
                key = order_id  # the row and the store keep one string, not two
        done_at = self.wall()
        rows.append((self.consumer_id, record.topic, record.partition, record.offset, key, order_id, duplicate,
                     received_at, done_at))
        return done_at

    def done(self, tp: Any, offset: int) -> None:
        with self.lock:
            self._tracker.done(tp, offset)
            self.retry_states.pop((tp, offset), None)

    def _to_dlt(self, tp: Any, record: Any, error: BaseException, retry_count: int,
                original: SourceCoords | None, coords: dict[str, Any]) -> None:
        """Send the record's DLT copy; it is done once acknowledged (:meth:`Outbox.flush`)."""
        source = original or record
        now = self.wall()
        pending = send_to_dlt(self.producer, self.settings.dlt_topic, source, error, group_id=self.group_id,
                              retry_count=retry_count, now=now)

        def acknowledged() -> None:  # a value too large for the DLT is written truncated by wait()
            md = pending.wait(self.ack_timeout_s)
            self._sent_to_dlt(tp, record, error, retry_count, coords, pending.dlt, md)

        self.outbox.add(acknowledged)

    def _sent_to_dlt(self, tp: Any, record: Any, error: BaseException, retry_count: int,
                     coords: dict[str, Any], dlt: Any, md: Any) -> None:
        order_id = None
        try:
            order_id = parse_fields(record.value)[0]
        except Exception:
            pass
        self.emit(SentToDLT(reason=error_label(error), error_message=dlt.envelope.error_message,
                             retry_count=retry_count, dlt_topic=md.topic, dlt_partition=md.partition,
                             dlt_offset=md.offset, order_id=order_id, **coords))
        log.warning(
            "offset %d of %s-%d (key %s) sent to DLT %s-%d@%d after %d retries: %s",
            record.offset, record.topic, record.partition, coords["key"], md.topic, md.partition, md.offset,
            retry_count, dlt.envelope.error_message,
        )
        self.done(tp, record.offset)
