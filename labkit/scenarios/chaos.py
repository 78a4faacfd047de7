"""Chaos: prove that the DLT-and-retry design loses nothing while consumers crash.

With a broker (so not a doctest)::

    report = run_chaos(settings, ChaosConfig(orders=600, mode="pause"))
    report.ok, report.lost, report.duplicates      # (True, [], 12)

One chaos run, on a real broker:

* a :class:`Feeder` produces ``orders`` records spread over ``duration_s``, keyed by ``orderId``;
  ``poison_rate`` of them are poison payloads (not UTF-8, not JSON) - every produced key is kept;
* a :class:`~labkit.group.supervisor.ConsumerGroup` of ``consumers`` OS processes consumes them in ``mode``
  (``pause`` or ``topic``), each with a failure injector failing ``transient_rate`` of the calls;
* a :class:`ChaosMonkey` SIGKILLs a random consumer every few seconds and starts a fresh one in its
  place, and now and then adds one or stops one cleanly (between ``min_consumers`` and
  ``max_consumers`` instances);
* when production is over the monkey stops, the group settles, and :func:`run_chaos` checks the
  promise (:mod:`labkit.scenarios.chaos_verdict`) on the *broker*, not only on the events: every
  produced ``orderId`` has a ``Processed`` event or a record in the DLT topic (read back with
  :func:`labkit.dlt.read_dlt`); every poison payload is in the DLT; every DLT record carries a reason
  (``errorType`` and ``errorMessage``); the group's committed offsets reached the log end of every
  partition it reads. Duplicates (orders processed more than once after a crash) are counted, not hidden.

Everything is bounded: production lasts ``duration_s``, settling at most ``settle_timeout_s``;
every consumer process is stopped by its PID when the run ends (also on errors).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from labkit.engine.processor import MODES
from labkit.events import EventLog, Produced
from labkit.scenarios.chaos_verdict import ChaosReport, fill_verdict, markdown_table, uncommitted
from labkit.settings import Settings

__all__ = ["POISON_PAYLOADS", "ChaosConfig", "ChaosReport", "Feeder", "ChaosMonkey", "run_chaos",
           "markdown_table"]

# Not UTF-8, or UTF-8 but not JSON: the consumer can only send them to the DLT, keeping their bytes.
POISON_PAYLOADS = (
    b"\xff\xfe\x00 not utf-8 at all",
    b"{not json",
    b"\xc3\x28 broken utf-8 sequence",
    b"<order id='1' amount='100'/>",
)


@dataclass(frozen=True)
class ChaosConfig:
    """What one chaos run does. The defaults are the CI size; the benchmark uses 10 000 orders."""

    orders: int = 600
    mode: str = "pause"
    consumers: int = 3
    min_consumers: int = 2
    max_consumers: int = 4
    transient_rate: float = 0.05
    poison_rate: float = 0.01
    duration_s: float = 10.0  # production is spread over this; the monkey acts meanwhile
    kill_every_s: tuple[float, float] = (2.0, 4.0)  # pause between two actions, drawn uniformly
    scale_every: int = 4  # every n-th action adds or stops a consumer (alternately) instead of a kill
    max_kills: int | None = None
    settle_timeout_s: float = 120.0
    start_timeout_s: float = 60.0
    seed: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {self.mode!r}")
        if not 1 <= self.min_consumers <= self.consumers <= self.max_consumers:
            raise ValueError("need 1 <= min_consumers <= consumers <= max_consumers")
        if self.orders < 1 or self.duration_s <= 0:
            raise ValueError("orders must be >= 1 and duration_s > 0")


class Feeder(threading.Thread):
    """Produces ``config.orders`` records at a steady rate over ``config.duration_s`` (acks=all).

    Keys are ``ORD-C<i>``; ``poison`` holds the keys whose value is a poison payload. A send that
    fails is sent again (at-least-once producer), so :attr:`ids` is exactly what the topic holds.
    """

    TICK_S = 0.05

    def __init__(self, settings: Settings, config: ChaosConfig, events: EventLog | None = None,
                 prefix: str = "ORD-C") -> None:
        super().__init__(name="labkit-chaos-feeder", daemon=True)
        self.settings, self.config, self.events = settings, config, events
        rng = random.Random(config.seed)
        n_poison = round(config.orders * config.poison_rate)
        poison_idx = set(rng.sample(range(config.orders), n_poison)) if n_poison else set()
        self.plan: list[tuple[str, bytes]] = []
        self.poison: set[str] = set()
        from labkit.orders import Order

        for i in range(config.orders):
            oid = f"{prefix}{i + 1}"
            if i in poison_idx:
                self.plan.append((oid, POISON_PAYLOADS[i % len(POISON_PAYLOADS)]))
                self.poison.add(oid)
            else:
                self.plan.append((oid, Order(oid, 100 + i % 900).to_json()))
        self.ids: list[str] = []
        self.error: BaseException | None = None
        self.stop_event = threading.Event()

    def run(self) -> None:
        from labkit.kafka import clients

        producer = clients.producer(self.settings, linger_ms=5)
        try:
            n = len(self.plan)
            ticks = max(1, int(self.config.duration_s / self.TICK_S))
            per_tick = n / ticks
            start = time.monotonic()
            sent = 0
            pending: list[tuple[str, bytes, Any]] = []
            for tick in range(1, ticks + 1):
                if self.stop_event.is_set():
                    break
                upto = n if tick == ticks else min(n, round(tick * per_tick))
                for key, value in self.plan[sent:upto]:
                    pending.append((key, value, producer.send(self.settings.orders_topic, key=key.encode(),
                                                              value=value)))
                sent = upto
                pending = self._collect(producer, pending, wait=False)
                delay = start + tick * self.TICK_S - time.monotonic()
                if delay > 0:
                    self.stop_event.wait(delay)
            producer.flush(timeout=30)
            self._collect(producer, pending, wait=True)
        except BaseException as exc:  # reported by run_chaos
            self.error = exc
        finally:
            producer.close(timeout=5)

    def _collect(self, producer: Any, pending: list, wait: bool) -> list:
        left = []
        for key, value, future in pending:
            if not wait and not future.is_done:
                left.append((key, value, future))
                continue
            try:
                md = future.get(timeout=30)
            except Exception:  # not acknowledged: send it again, synchronously, until it is
                md = self._resend(producer, key, value)
            self.ids.append(key)
            if self.events is not None:
                self.events.append(Produced(consumer="chaos-feeder", topic=md.topic, partition=md.partition,
                                            offset=md.offset, key=key, order_id=key))
        return left

    def _resend(self, producer: Any, key: str, value: bytes) -> Any:
        deadline = time.monotonic() + 60
        while True:
            try:
                return producer.send(self.settings.orders_topic, key=key.encode(), value=value).get(timeout=10)
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


class ChaosMonkey(threading.Thread):
    """Every ``config.kill_every_s`` seconds: SIGKILL a random consumer and start a fresh one; every
    ``config.scale_every``-th action (and every action after ``max_kills``) adds one or stops one
    cleanly instead, alternately. The first action is a kill."""

    def __init__(self, group: Any, config: ChaosConfig, log: Callable[[str], Any] | None = None) -> None:
        super().__init__(name="labkit-chaos-monkey", daemon=True)
        self.group, self.config, self.log = group, config, log or (lambda line: None)
        self.rng = random.Random(config.seed + 1)
        self.stop_event = threading.Event()
        self.kills = self.adds = self.removes = self.count = 0
        self.actions: list[tuple[float, str, str]] = []
        self.error: BaseException | None = None
        self.t0 = time.monotonic()

    def run(self) -> None:
        try:
            while not self.stop_event.wait(self.rng.uniform(*self.config.kill_every_s)):
                self.act()
        except BaseException as exc:
            self.error = exc

    def _note(self, action: str, name: str) -> None:
        self.actions.append((round(time.monotonic() - self.t0, 1), action, name))
        self.log(f"  chaos t+{time.monotonic() - self.t0:5.1f}s: {action} {name}")

    def act(self) -> None:
        live = self.group.names
        kills_left = self.config.max_kills is None or self.kills < self.config.max_kills
        self.count += 1
        scale = self.config.scale_every > 0 and self.count % self.config.scale_every == 0
        if scale or not kills_left:  # scaling alternates: add one, later stop one (within the bounds)
            grow = self.adds <= self.removes
            if len(live) < self.config.max_consumers and (grow or len(live) <= self.config.min_consumers):
                self._note("add", self.group.add())
                self.adds += 1
            elif len(live) > self.config.min_consumers:
                victim = self.rng.choice(live)
                self.group.stop(victim)
                self.removes += 1
                self._note("stop (SIGTERM)", victim)
            return
        if not live:
            self._note("add", self.group.add())
            return
        victim = self.rng.choice(live)
        self.group.kill(victim)
        self.kills += 1
        self._note("SIGKILL", victim)
        self._note("restart as", self.group.add())


def run_chaos(settings: Settings, config: ChaosConfig, engine: str = "?", events: EventLog | None = None,
              log: Callable[[str], Any] | None = None, log_dir: str | Path | None = None) -> ChaosReport:
    """One chaos run (see the module doc) on the broker and topics of ``settings`` (they must exist;
    the DLT and orders topics should be empty). Returns a :class:`ChaosReport`; never leaves a
    process behind."""
    from labkit.dlt.read import read_dlt
    from labkit.group.supervisor import ConsumerGroup
    from labkit.observe.journeys import duplicates
    from labkit.wait import WaitTimeout

    say = log or (lambda line: None)
    events = events if events is not None else EventLog()
    settings = settings.replace(fast=True)  # the module's backoff x0.05: 50 ms, 100 ms, 200 ms...
    feeder = Feeder(settings, config, events)
    report = ChaosReport(engine, config.mode, config.orders, len(feeder.poison))
    t0 = time.monotonic()
    monkey = None
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    group = ConsumerGroup(settings, mode=config.mode, events=events, http=False,
                          transient_rate=config.transient_rate, log_dir=log_dir)
    try:
        group.start(config.consumers)
        sizes = _even(settings.orders_partitions, config.consumers)
        try:
            group.wait_for_assignment(sizes, timeout_s=config.start_timeout_s / 2)
        except WaitTimeout as exc:
            # seen once in ~15 starts on Apache Kafka under load: one kafka-python member hangs after
            # its JoinGroup (no SyncGroup, no heartbeat) and is evicted; the others own everything.
            # The start is not what is under test: go on once every partition has one owner.
            report.notes.append(f"start: no even assignment ({exc})"[:500])
            say(f"  {report.notes[-1]}")
            total = settings.orders_partitions

            def covered(live: dict) -> bool:
                owned = [tp for parts in live.values() for tp in parts]
                return len(owned) == len(set(owned)) == total

            group.wait_for_assignment(covered, timeout_s=config.start_timeout_s / 2)
        say(f"  {config.consumers} consumers own {sizes} partitions after {time.monotonic() - t0:.1f} s")
        monkey = ChaosMonkey(group, config, log)
        feeder.start()
        monkey.start()
        feeder.join(config.duration_s + 120)
        monkey.stop_event.set()
        monkey.join(60)
        if feeder.is_alive() or feeder.error is not None:
            raise RuntimeError(f"the producer failed: {feeder.error!r}")
        if monkey.error is not None:
            raise RuntimeError(f"the chaos controller failed: {monkey.error!r}")
        say(f"  produced {len(feeder.ids)} records in {time.monotonic() - t0:.1f} s; settling")
        try:
            group.wait_processed(feeder.ids, timeout_s=config.settle_timeout_s)
            report.settled = True
        except WaitTimeout as exc:
            report.error = str(exc)[:2000]
        topics = [settings.orders_topic] + ([settings.retry_topic] if config.mode == "topic" else [])
        deadline = time.monotonic() + 30  # the consumers commit after every poll: this is quick
        while True:
            report.uncommitted = uncommitted(settings, topics)
            if not report.uncommitted or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    except BaseException as exc:
        report.error = f"{type(exc).__name__}: {exc}"[:2000]
        if not isinstance(exc, Exception):
            raise
    finally:
        feeder.stop_event.set()
        if monkey is not None:
            monkey.stop_event.set()
            monkey.join(60)
        group.close(timeout_s=30)
    report.seconds = time.monotonic() - t0
    if monkey is not None:
        report.kills, report.adds, report.removes = monkey.kills, monkey.adds, monkey.removes
        report.actions = monkey.actions
    fill_verdict(report, settings, events, feeder, read_dlt, duplicates)
    return report


def _even(partitions: int, consumers: int) -> list[int]:
    base, extra = divmod(partitions, consumers)
    return [base + (1 if i < extra else 0) for i in range(consumers)]
