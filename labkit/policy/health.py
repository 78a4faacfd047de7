"""Is a consumer healthy? The pure decision behind every ``/health`` (the API's and ``labkit consumer``'s).

No Kafka and no clock of its own: the caller measures (how long since the last broker round trip, which
partitions the topic has and which are owned, since when) and :func:`consumer_health` decides, with a
one-line reason a student understands. The bounds come from the client settings:

* **contact**: kafka-python itself counts its group session lost after ``session_timeout_ms`` without
  a heartbeat answer, and the broker evicts the member then too, so a consumer with no broker round
  trip (heartbeat answer, fetched records, join) for longer than ``session_timeout_ms`` is DOWN.
  A healthy one has one every ``heartbeat_interval_ms``.
* **rebalance**: a partition may go without an owner during a rebalance: the members notice a new
  partition count at their next metadata refresh (every ``session_timeout_ms``, see
  :func:`labkit.kafka.clients.consumer`), a crashed member is evicted after ``session_timeout_ms``,
  and the others rejoin within about one more. Longer than ``3 x session_timeout_ms``, it is not a
  rebalance any more.

>>> from labkit.settings import Settings
>>> s = Settings()
>>> contact_bound_s(s), rebalance_bound_s(s)
(6.0, 18.0)
>>> consumer_health(ConsumerView(running=True, contact_age_s=0.4, topic="orders", partitions=6,
...                              owned=(0, 1, 2, 3, 4, 5), since_rebalance_s=30.0), s)
(True, '')
>>> consumer_health(ConsumerView(running=True, contact_age_s=9.0, topic="orders", partitions=6,
...                              owned=(0, 1, 2, 3, 4, 5), since_rebalance_s=30.0), s)[1]
'no heartbeat answered for 9 s (more than session.timeout.ms, 6 s): the consumer is out of its group \
(broker unreachable, or poll() not called within max.poll.interval.ms)'
"""

from __future__ import annotations

from dataclasses import dataclass

from labkit.settings import Settings

__all__ = ["ConsumerView", "consumer_health", "contact_bound_s", "rebalance_bound_s"]


def contact_bound_s(settings: Settings) -> float:
    """Longest a healthy consumer goes without a broker round trip: ``session_timeout_ms``."""
    return settings.session_timeout_ms / 1000


def rebalance_bound_s(settings: Settings) -> float:
    """Longest a partition of the topic may stay without an owner: ``3 x session_timeout_ms``."""
    return 3 * settings.session_timeout_ms / 1000


@dataclass(frozen=True)
class ConsumerView:
    """What the caller measured about one consumer (seconds; None = not known).

    ``broker_reason``: why the broker side is not healthy ("" = it is: it answers, the topics exist);
    ``running``/``error``: the consumer loop; ``contact_age_s``: since its last broker round trip;
    ``partitions``: how many the topic has now (fresh from the broker), ``owned``: those that have a
    consumer (the whole group's when the broker reports assignments, else this consumer's when it is
    alone in the group, else None); ``since_rebalance_s``: since this consumer's last rebalance;
    ``own``: how many partitions this consumer owns, where owning none is unhealthy (the API's
    single consumer), else None; ``rebalancing``: a join is in progress, which sends no heartbeats
    (then the contact bound is the rebalance bound).
    """

    running: bool
    contact_age_s: float | None = None
    topic: str = "orders"
    partitions: int | None = None
    owned: tuple[int, ...] | None = None
    since_rebalance_s: float | None = None
    own: int | None = None
    broker_reason: str = ""
    error: str | None = None
    group: str = ""
    rebalancing: bool = False


def _partitions(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers))


def consumer_health(view: ConsumerView, settings: Settings) -> tuple[bool, str]:
    """``(ok, reason)``: ``reason`` is "" when ok, else one line saying what is wrong and what to do.

    In order: the broker side (unreachable, topics missing); the loop not running; no heartbeat answered
    within :func:`contact_bound_s` (a join within :func:`rebalance_bound_s`); owns nothing (``own == 0``:
    joining); partitions of the topic without a consumer for longer than :func:`rebalance_bound_s` since
    the last rebalance.

    >>> s = Settings()
    >>> consumer_health(ConsumerView(running=True, contact_age_s=0.1, partitions=6, owned=(0, 1, 2, 3),
    ...                              since_rebalance_s=240.0), s)[1]
    'orders partitions 4, 5 have no consumer (no rebalance for 240 s, longer than one takes: 18 s); \
restart the consumer, or re-create the topic with: labkit topics create --recreate'
    >>> consumer_health(ConsumerView(running=True, contact_age_s=0.1, partitions=6, owned=(0, 1, 2, 3),
    ...                              since_rebalance_s=2.0), s)
    (True, '')
    >>> consumer_health(ConsumerView(running=True, contact_age_s=9.0, rebalancing=True), s)
    (True, '')
    """
    if view.broker_reason:
        return False, view.broker_reason
    if not view.running:
        return False, f"consumer not running ({view.error or 'starting'})"
    age = view.contact_age_s
    if view.rebalancing and age is not None and age > rebalance_bound_s(settings):
        return False, (f"rebalancing for {age:.0f} s, longer than one takes ({rebalance_bound_s(settings):g} s): "
                       "the group cannot settle; restart the consumer")
    if not view.rebalancing and age is not None and age > contact_bound_s(settings):
        return False, (f"no heartbeat answered for {age:.0f} s (more than session.timeout.ms, "
                       f"{contact_bound_s(settings):g} s): the consumer is out of its group (broker unreachable, "
                       "or poll() not called within max.poll.interval.ms)")
    if view.own == 0:
        return False, f"consumer owns no partition yet (joining group {view.group or '?'})"
    if view.owned is not None and view.partitions is not None:
        missing = sorted(set(range(view.partitions)) - set(view.owned))
        since = view.since_rebalance_s
        if missing and since is not None and since > rebalance_bound_s(settings):
            return False, (f"{view.topic} partitions {_partitions(missing)} have no consumer (no rebalance for "
                           f"{since:.0f} s, longer than one takes: {rebalance_bound_s(settings):g} s); "
                           "restart the consumer, or re-create the topic with: labkit topics create --recreate")
    return True, ""
