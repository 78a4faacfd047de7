"""The kafka-python join-race workaround in labkit.kafka.clients, on a coordinator built without a broker."""

from __future__ import annotations

import pytest
from kafka.consumer.subscription_state import SubscriptionState
from kafka.coordinator.consumer import ConsumerCoordinator

from labkit.kafka import clients


@pytest.fixture
def joined():
    """A coordinator whose last assignment matches the metadata: nothing asks for a rejoin."""
    clients._patch_join_race()
    c = ConsumerCoordinator.__new__(ConsumerCoordinator)
    c.config = {"group_id": "orders-consumer-group", "api_version": (2, 8)}
    c._subscription = SubscriptionState()
    c._subscription.subscribe(topics=["orders"])
    c._assignment_snapshot = c._metadata_snapshot = {"orders": {0, 1, 2}}
    c._joined_subscription = {"orders"}
    c.rejoin_needed = False
    c._join_task = None
    return c


def test_a_settled_member_needs_no_rejoin(joined):
    assert joined.need_rejoin() is False


def test_a_join_still_in_flight_means_rejoin_needed(joined):
    """The race: the leader's assignment made the snapshots equal while poll() had given up waiting on
    the JoinGroup; without the workaround ``join_group_async`` would never complete that join."""
    joined._join_task = object()
    assert joined.need_rejoin() is True


def test_the_usual_reasons_still_apply(joined):
    joined._metadata_snapshot = {"orders": {0, 1, 2, 3}}
    assert joined.need_rejoin() is True


def test_patching_twice_wraps_once():
    clients._patch_join_race()
    first = ConsumerCoordinator.need_rejoin
    clients._patch_join_race()
    assert ConsumerCoordinator.need_rejoin is first
