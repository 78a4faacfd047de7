"""The course topics: create idempotently, verify partition counts, list, describe, delete.

``orders`` (6 partitions), ``orders.DLT`` (3) and ``orders.retry`` (3), replication factor 1.
Creating twice is fine; an existing topic with another partition count is reported, not "fixed"
(resizing loses ordering guarantees, and the embedded broker cannot add partitions anyway).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from kafka.admin import NewTopic
from kafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
)

from labkit.errors import no_broker
from labkit.kafka import clients
from labkit.settings import Settings, load


class TopicError(RuntimeError):
    """A topic is missing or has the wrong shape; the message says which and what to do."""


@dataclass(frozen=True)
class PartitionInfo:
    topic: str
    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]


def create(settings: Settings | None = None, wanted: dict[str, int] | None = None,
           timeout_s: float = 10.0, recreate: bool = False) -> dict[str, str]:
    """Create the wanted topics (default: the course's three) and verify their partition counts.

    Returns ``{topic: "created" | "exists" | "re-created"}``. A topic that exists with another count (a
    client re-created it with the broker's default after a restart, a student's experiment) raises
    TopicError naming the repair, unless ``recreate``: then it is deleted and created again (its records
    are lost: the course's topics hold only lab data).
    """
    settings = settings or load()
    wanted = wanted if wanted is not None else settings.topics
    wrong = _wrong_counts(settings, wanted) if recreate else {}
    if wrong:
        delete(settings, list(wrong), timeout_s)
    result = _create(settings, wanted, timeout_s)
    return result | {name: "re-created" for name in wrong}


def _wrong_counts(settings: Settings, wanted: dict[str, int]) -> dict[str, int]:
    with _admin(settings) as admin:
        existing = [t for t in wanted if t in set(admin.list_topics())]
        counts = {d["name"]: len(d["partitions"]) for d in _describe(admin, existing) if d["error_code"] == 0}
    return {t: n for t, n in counts.items() if n != wanted[t]}


def _create(settings: Settings, wanted: dict[str, int], timeout_s: float) -> dict[str, str]:
    result: dict[str, str] = {}
    with _admin(settings) as admin:
        existing = set(admin.list_topics())
        missing = [t for t in wanted if t not in existing]
        for name in wanted:
            result[name] = "exists" if name in existing else "created"
        if missing:
            new = [NewTopic(t, wanted[t], settings.replication_factor) for t in missing]
            try:
                admin.create_topics(new, timeout_ms=int(timeout_s * 1000))
            except TopicAlreadyExistsError:
                pass  # created concurrently by someone else: verified below
        counts = _wait_for_counts(admin, list(wanted), timeout_s)
    wrong = {t: (counts.get(t), n) for t, n in wanted.items() if counts.get(t) != n}
    if wrong:
        detail = "; ".join(f"{t} has {have} partitions, the course needs {need}" for t, (have, need) in wrong.items())
        raise TopicError(f"{detail}. Re-create it (its records are lost): labkit topics create --recreate")
    return result


def _wait_for_counts(admin, names: list[str], timeout_s: float) -> dict[str, int]:
    """Partition counts as metadata reports them, waiting (bounded) for new topics to appear."""
    deadline = time.monotonic() + timeout_s
    while True:
        counts = {d["name"]: len(d["partitions"]) for d in _describe(admin, names) if d["error_code"] == 0}
        if len(counts) == len(names) or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def _describe(admin, names: list[str]) -> list[dict]:
    try:
        return admin.describe_topics(names)
    except UnknownTopicOrPartitionError:
        return [{"name": n, "error_code": 3, "partitions": []} for n in names]


def list_topics(settings: Settings | None = None, include_internal: bool = False) -> list[str]:
    """Topic names, sorted; internal ones (``__consumer_offsets``) hidden unless asked."""
    with _admin(settings or load()) as admin:
        names = admin.list_topics()
    return sorted(n for n in names if include_internal or not n.startswith("__"))


def describe(settings: Settings | None = None, names: list[str] | None = None) -> list[PartitionInfo]:
    """Partitions, leaders, replicas and ISR of the given topics (default: the course's)."""
    settings = settings or load()
    names = names or list(settings.topics)
    with _admin(settings) as admin:
        described = _describe(admin, names)
    missing = [d["name"] for d in described if d["error_code"] != 0]
    if missing:
        raise TopicError(f"topic(s) not found: {', '.join(missing)}. Create them with: labkit topics create")
    rows = [
        PartitionInfo(d["name"], p["partition_index"], p["leader_id"], tuple(p["replica_nodes"]), tuple(p["isr_nodes"]))
        for d in described
        for p in d["partitions"]
    ]
    return sorted(rows, key=lambda r: (names.index(r.topic), r.partition))


def partition_counts(settings: Settings | None = None, names: list[str] | None = None) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in describe(settings, names):
        counts[row.topic] = counts.get(row.topic, 0) + 1
    return counts


def delete(settings: Settings | None = None, names: list[str] | None = None,
           timeout_s: float = 10.0) -> dict[str, str]:
    """Delete topics (default: the course's). Returns ``{topic: "deleted" | "absent"}``; waits until gone."""
    settings = settings or load()
    names = names or list(settings.topics)
    with _admin(settings) as admin:
        existing = set(admin.list_topics())
        present = [n for n in names if n in existing]
        if present:
            try:
                admin.delete_topics(present, timeout_ms=int(timeout_s * 1000))
            except UnknownTopicOrPartitionError:
                pass
            deadline = time.monotonic() + timeout_s
            while set(present) & set(admin.list_topics()) and time.monotonic() < deadline:
                time.sleep(0.05)
    return {n: "deleted" if n in present else "absent" for n in names}


class _admin:
    """An admin client as a context manager, with a clear error when no broker answers."""

    def __init__(self, settings: Settings):
        self.settings = settings

    def __enter__(self):
        from labkit.kafka.probe import probe

        found = probe(*self.settings.host_port)
        if found.state == "closed":
            raise TopicError(no_broker(self.settings.bootstrap_servers))
        try:
            self.client = clients.admin(self.settings)
        except (KafkaTimeoutError, KafkaConnectionError) as exc:
            raise TopicError(no_broker(self.settings.bootstrap_servers, type(exc).__name__)) from exc
        return self.client

    def __exit__(self, *exc):
        self.client.close()
        return False
