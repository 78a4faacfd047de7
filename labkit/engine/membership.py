"""The processor in its group: which of its consumers are members, the rebalance hooks (what is done,
what to forget, what to resume), the retry topic's own consumer, and the repair of a group the embedded
broker leaves stuck (:mod:`labkit.broker.stuck_group`).

:class:`GroupMembership` is a mixin of :class:`~labkit.engine.processor.OrderProcessor`: the rebalance
hooks run on kafka-python's IO thread against the processor's assignment, gate, done tracker and retry
states, the stuck-group repair closes and opens the processor itself, and the retry reader is built from
some twenty of its settings; a collaborator would reach back for all of them.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from labkit.broker.stuck_group import group_members, reset_stuck_group, retry_group_id
from labkit.engine.rebalance import format_partitions
from labkit.engine.retry_topic import resume
from labkit.errors import describe

if TYPE_CHECKING:
    from labkit.engine.processor import OrderProcessor

__all__ = ["GroupMembership", "RETRY_FETCH_MAX_WAIT_MS"]

log = logging.getLogger("labkit.engine.processor")

RETRY_FETCH_MAX_WAIT_MS = 20  # the retry reader's long poll: its lateness bound after a hold


class GroupMembership:
    """The group methods of :class:`~labkit.engine.processor.OrderProcessor` (see the module docstring)."""

    @property
    def group_client_ids(self) -> list[str]:
        """Those of :attr:`client_ids` that are members of :attr:`group_id` (the retry reader has a
        group of its own on the embedded broker: :func:`~labkit.broker.stuck_group.retry_group_id`)."""
        ids = self.client_ids
        if len(ids) > 1 and retry_group_id(self.settings, self.group_id) != self.group_id:
            return ids[:1]
        return ids

    def _members(self) -> list[Any]:
        return group_members(self.settings, self.group_id)

    def _owns_its_share(self) -> bool:
        """False while this consumer owns no partition, or fewer than its topics have: what a member
        alone in its group must not see for long (:class:`~labkit.broker.stuck_group.StuckGroupCheck`
        then asks who else is in the group). Read from the client's cached metadata, as the broker
        watch does (``partitions_for_topic`` would fetch it, blocking, for a topic it does not know)."""
        owned = self._assignment
        if not owned:
            return False
        consumer = self.consumer
        cluster = getattr(consumer, "_cluster", None)
        for topic in (consumer.subscription() or ()) if cluster is not None else ():
            partitions = cluster.partitions_for_topic(topic)
            if partitions and sum(tp.topic == topic for tp in owned) < len(partitions):
                return False
        return True

    def _rejoin_stuck_group(self) -> None:
        """No partition (or only some) for far longer than a rebalance, alone in the group, on the
        embedded broker: it left the group stuck (:mod:`labkit.broker.stuck_group`). Leave, have the
        group reset with its committed offsets kept, join again."""
        log.warning("processor %s: %d partition(s) after %.0f s alone in group %s: the embedded broker left the "
                    "group stuck; leaving it, resetting it (committed offsets kept) and joining again",
                    self.consumer_id, len(self._assignment), self._stuck.after_s, self.group_id)
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
        from labkit.engine.processor import OrderProcessor  # the processor module imports this one

        return OrderProcessor(
            self.settings, policy=self.policy, mode="topic", injector=self.injector, events=self.events,
            handler=self.handler, store=self.store, breaker=self.breaker, clock=self.clock, wall=self.wall,
            sleep=self.sleep, max_poll_records=self.max_poll_records, poll_timeout_ms=self.poll_timeout_ms,
            group_id=retry_group_id(self.settings, self.group_id), consumer_id=self.client_ids[1],
            consumer_overrides=overrides,
            producer=self.producer, seed=self.rng.randrange(2**32), ack_timeout_s=self.ack_timeout_s,
            before_commit=self.before_commit, reads_retry_topic=True, main_outbox=self.outbox,
        )


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
            if consumer is None or self.breaker_pause.paused:
                return
            stale = [tp for tp in tps if tp in consumer.paused() and tp not in self.gate]
        if stale:
            resume(consumer, stale)
            log.info("rebalance: resumed %s (their backoff was dropped on revoke; the failed record "
                     "is delivered again)", format_partitions(stale))
