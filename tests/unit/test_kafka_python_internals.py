"""Every private name of kafka-python that labkit reads or patches, checked against the installed
kafka-python in one place, so that an upgrade that renames one fails here and not in a classroom.

Each work-around falls back to plain kafka-python when its name is gone (by design: a missing
private name must not break a lab), so without these checks the fallback would go unnoticed. The
work-arounds themselves live next to the call they affect, each with its measured reason
(ARCHITECTURE.md, "where a change goes"); the record decoder's patch is checked by
``test_record_decoding.py``. No broker: a consumer sends nothing before its first ``poll()``.
"""

from __future__ import annotations

import inspect

import pytest
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.cluster import ClusterMetadata
from kafka.consumer.fetcher import Fetcher
from kafka.coordinator.consumer import ConsumerCoordinator
from kafka.structs import MemberState

from labkit.kafka import clients


@pytest.fixture
def consumer():
    consumer = KafkaConsumer(bootstrap_servers="127.0.0.1:1", api_version=(3, 0), group_id="labkit-internals")
    yield consumer
    consumer.close()


def test_the_cached_metadata_the_broker_watch_reads(consumer):
    # engine/loop.py and engine/membership.py read consumer._cluster: no network call
    assert isinstance(consumer._cluster, ClusterMetadata)


def test_the_parked_records_of_a_paused_partition_that_resume_drops(consumer):
    # engine/retry_topic.resume: the fetcher stall after a pause (KAFKA-7548's parking)
    assert isinstance(consumer._fetcher._paused_partition_records, dict)


def test_the_partition_records_a_failed_poll_was_reading(consumer):
    # kafka/corrupt.failed_partition: the fetcher's records in hand, and their partition
    assert hasattr(consumer._fetcher, "_next_partition_records")
    assert "self.topic_partition" in inspect.getsource(Fetcher.PartitionRecords.__init__)


def test_the_heartbeat_clock_and_the_member_state_that_health_reads(consumer):
    # kafka/clients.group_contact
    heartbeat = consumer._coordinator.heartbeat
    assert isinstance(heartbeat.last_receive, float) and isinstance(heartbeat.last_reset, float)
    assert consumer._coordinator.state == MemberState.UNJOINED


def test_group_contact_tells_a_join_in_progress(consumer):
    when, rebalancing = clients.group_contact(consumer)
    assert when is not None and rebalancing is False  # no answer yet: the contact age counts from the start
    consumer._coordinator.state = MemberState.REBALANCING  # what kafka-python sets while it joins
    assert clients.group_contact(consumer)[1] is True
    consumer._coordinator.state = MemberState.STABLE
    assert clients.group_contact(consumer)[1] is False


def test_what_the_join_race_patch_reads(consumer):
    # kafka/clients._patch_join_race: ConsumerCoordinator.need_rejoin wrapped, reading these two
    assert callable(ConsumerCoordinator.need_rejoin)
    consumer.subscribe(["orders"])  # no network call
    assert consumer._coordinator._subscription.partitions_auto_assigned() is True
    assert hasattr(consumer._coordinator, "_join_task")


def test_the_acl_decoder_the_describe_groups_patch_wraps():
    # kafka/clients._patch_describe_groups
    assert callable(KafkaAdminClient._process_acl_operations)
