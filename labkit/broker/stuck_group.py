"""Consumer groups the lite embedded broker mishandles, and how labkit copes.

Measured on the embedded broker (Tansu, ``docs/tansu-compat.md``):

* **after members leave**: two consumers join a group, both leave cleanly, a third joins. Its
  JoinGroup succeeds and every SyncGroup answers REBALANCE_IN_PROGRESS, as long as one waits
  (2 min observed): it never gets a partition. Apache Kafka assigns it within a second. A student
  meets it by stopping a terminal ``labkit consumer`` and starting the notebook's API again;
* **after a restart**: a consumer still running across a restart of the (memory-only) broker
  rejoins with its old member id and leaves the group stuck the same way;
* **after a topic grows** (``labkit topics create --recreate`` puts ``orders`` back to 6 partitions): the
  lone member sees the new partitions and rejoins; as leader it assigns all 6, and the broker's
  SyncGroup answers the previous generation's assignment (4 partitions, generation 0 again), for good.
  Apache Kafka gives the member the 6 it assigned;
* **members reading different topics**: a group whose members subscribe to different topics (the
  topic mode's main consumer reads ``orders``, its retry reader ``orders.retry``) gives one of them
  no partition at all, rebalance after rebalance (Apache Kafka assigns each its topic's partitions).
  :func:`retry_group_id` gives the retry reader a group of its own there.

Deleting the group clears the first three. Its committed offsets are read first and written back
(:func:`reset_stuck_group`), so nothing is consumed twice or skipped. :class:`StuckGroupCheck`
lets a consumer notice that it has had no partition, or fewer than its topics have, for far longer
than the embedded broker's slowest honest rebalance (about half a session timeout) while alone in
its group, and only then.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from labkit.broker.watch import identity
from labkit.kafka.offsets import ask_group_coordinator

__all__ = ["StuckGroupCheck", "forget_group", "group_members", "on_embedded_broker", "reset_stuck_group",
           "retry_group_id"]

log = logging.getLogger("labkit.broker")


def on_embedded_broker(settings: Any) -> bool:
    """Whether the broker at ``settings``' address is one labkit started with the embedded engine."""
    record = identity(settings.host_port)
    return record is not None and record.engine == "embedded"


def retry_group_id(settings: Any, group_id: str) -> str:
    """The group of the retry topic's consumer: the main consumer's group (as Spring Kafka's retry
    containers do), except on the embedded broker, which cannot share one group between members
    reading different topics: ``<group>.retry`` there.

    >>> from labkit.settings import Settings
    >>> retry_group_id(Settings(bootstrap_servers="127.0.0.1:1"), "orders-consumer-group")
    'orders-consumer-group'
    """
    return f"{group_id}.retry" if on_embedded_broker(settings) else group_id


def forget_group(settings: Any, group_id: str, timeout_ms: int = 3000) -> bool:
    """Delete ``group_id`` on a broker that restarted empty (best effort, bounded; True if done):
    its state there is junk anyway, offsets included."""
    from labkit.kafka import clients

    try:
        admin = clients.admin(settings, bootstrap_timeout_ms=timeout_ms, request_timeout_ms=timeout_ms)
    except Exception:  # noqa: BLE001 - best effort
        return False
    try:
        admin.delete_groups([group_id])
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        admin.close()


def reset_stuck_group(settings: Any, group_id: str, timeout_s: float = 5.0) -> int:
    """Delete ``group_id`` and write its committed offsets back; returns how many were kept.
    Only for a group nobody consumes in (the embedded broker deletes even an active one)."""

    def reset(admin: Any) -> int:
        offsets = admin.list_group_offsets({group_id: None}).get(group_id) or {}
        offsets = {tp: om for tp, om in offsets.items() if om is not None and om.offset >= 0}
        admin.delete_groups([group_id])
        if offsets:
            admin.alter_group_offsets(group_id, offsets)
        return len(offsets)

    return ask_group_coordinator(settings, group_id, timeout_s, "reset", reset)


def group_members(settings: Any, group_id: str, timeout_s: float = 5.0) -> list[Any]:
    """The member ids of ``group_id`` (``describe_groups``, bounded)."""
    described = ask_group_coordinator(settings, group_id, timeout_s, "describe",
                                      lambda admin: admin.describe_groups([group_id]).get(group_id, {}))
    return [m.get("member_id") for m in described.get("members") or []]


class StuckGroupCheck:
    """Says when a consumer with no partitions should leave its group, have it reset and join again.

    ``stuck(has_partitions, members)`` is called from the consumer's loop (``has_partitions``: it owns
    its share, every partition of its topics if it is alone); it is true once the consumer has lacked
    them for ``after_s`` (default: a session timeout plus 3 s; an honest
    join there takes about half a session, and a notebook's API waits 20 s for its consumer)
    on a broker labkit started with the embedded engine, and ``members()`` (called then only)
    shows no member but ours (``own`` of them). Only once per ``after_s``: a reset that did not
    help is not repeated in a tight loop.

    >>> now = [0.0]
    >>> check = StuckGroupCheck(after_s=10, own=1, engine="embedded", clock=lambda: now[0])
    >>> check.stuck(False, lambda: ["us"]), check.stuck(True, lambda: ["us"])
    (False, False)
    >>> now[0] = 5; check.stuck(False, lambda: ["us"])
    False
    >>> now[0] = 16; check.stuck(False, lambda: ["us", "a terminal consumer"])
    False
    >>> now[0] = 27; check.stuck(False, lambda: ["us"])
    True
    >>> StuckGroupCheck(after_s=0, own=1, engine="kafka").stuck(False, lambda: ["us"])
    False
    """

    def __init__(self, *, after_s: float, own: int, engine: str | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.after_s, self.own, self.clock = after_s, own, clock
        self.enabled = engine == "embedded"  # Apache Kafka never leaves a group like this
        self._since: float | None = None

    @classmethod
    def for_consumer(cls, settings: Any, own: int) -> StuckGroupCheck:
        return cls(after_s=settings.session_timeout_ms / 1000 + 3, own=own,
                   engine="embedded" if on_embedded_broker(settings) else None)

    def stuck(self, has_partitions: bool, members: Callable[[], list[Any]]) -> bool:
        if not self.enabled:
            return False
        now = self.clock()
        if has_partitions or self._since is None:
            self._since = None if has_partitions else now
            return False
        if now - self._since < self.after_s:
            return False
        self._since = now  # once per period, whatever the answer
        try:
            return len(members()) <= self.own
        except Exception as exc:  # noqa: BLE001 - cannot tell: do nothing
            log.debug("could not describe the group: %r", exc)
            return False
