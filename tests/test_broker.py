"""The broker layer against real brokers: lifecycle, reuse, stale state, auto, bad input."""

from __future__ import annotations

import os
import signal
import socket
import time

import psutil
import pytest
from kafka import TopicPartition

from labkit import broker
from labkit.broker import state
from labkit.kafka import clients, topics
from labkit.kafka.probe import port_is_free
from labkit.settings import load
from tests.conftest import ENGINE, free_port

needs_started_broker = pytest.mark.skipif(ENGINE == "external", reason="engine 'external': labkit starts no broker")
pytestmark = [pytest.mark.broker, needs_started_broker]


@pytest.fixture
def own_settings(state_dir):
    """Settings on a fresh port; whatever the test starts there is stopped afterwards."""
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    yield settings
    record = state.load(settings.host_port[1])
    if record:
        broker.down(settings=settings)


def _round_trip(settings) -> bytes:
    topics.create(settings, {"smoke": 1})
    producer = clients.producer(settings)
    producer.send("smoke", key=b"k", value=b"hello").get(timeout=10)
    producer.close()
    reader = clients.reader(settings)
    tp = TopicPartition("smoke", 0)
    reader.assign([tp])
    reader.seek_to_beginning(tp)
    deadline = time.monotonic() + 10
    values = []
    while not values and time.monotonic() < deadline:
        values = [r.value for r in reader.poll(timeout_ms=500).get(tp, [])]
    reader.close()
    return values[0] if values else b""


def test_up_ready_round_trip_down_leaves_nothing_behind(own_settings):
    info = broker.up(ENGINE, settings=own_settings)
    assert info.started and info.engine == ENGINE
    assert broker.ready(own_settings, timeout_s=1)
    assert _round_trip(own_settings) == b"hello"

    messages = broker.down(settings=own_settings)

    assert "stopped" in messages[0] or "killed" in messages[0]
    assert not psutil.pid_exists(info.pid) or psutil.Process(info.pid).status() == psutil.STATUS_ZOMBIE
    assert port_is_free(*own_settings.host_port)
    assert state.load(own_settings.host_port[1]) is None


def test_a_fresh_broker_answers_committed_offsets_of_a_group_that_never_committed(own_settings):
    """Apache Kafka creates its offsets topic on the first FindCoordinator and answers "not
    available" meanwhile: the lag table of a fresh broker must say "nothing committed", not fail."""
    from labkit.kafka.offsets import committed_offsets

    broker.up(ENGINE, settings=own_settings)
    topics.create(own_settings, {"fresh": 2})
    assert committed_offsets(own_settings, "never-committed", topics="fresh") == {
        TopicPartition("fresh", 0): None, TopicPartition("fresh", 1): None}


def test_up_twice_reuses_the_running_broker(own_settings):
    first = broker.up(ENGINE, settings=own_settings)
    second = broker.up(ENGINE, settings=own_settings)
    assert (second.pid, second.started) == (first.pid, False)
    # "reused", then maybe a restart note: free_port() may hand out a port an earlier test's broker
    # had, and this process remembers that broker (broker._seen_now), as it should for a student
    assert second.note.startswith("reused"), second.note


def test_a_broker_that_died_is_detected_and_its_state_cleaned(own_settings):
    first = broker.up(ENGINE, settings=own_settings)
    os.kill(first.pid, signal.SIGKILL)
    state.wait_gone(state.load(own_settings.host_port[1]))

    assert broker.status(settings=own_settings)["state"].startswith("stale")
    again = broker.up(ENGINE, settings=own_settings)

    assert again.started and again.pid != first.pid
    assert "stale" in again.note


def test_auto_uses_a_broker_that_already_answers(own_settings, tmp_path, monkeypatch):
    running = broker.up(ENGINE, settings=own_settings)
    # A different state dir: labkit has no record of this broker, as with docker compose.
    monkeypatch.setenv("LABKIT_STATE_DIR", str(tmp_path))

    found = broker.up("auto", settings=own_settings)

    assert (found.engine, found.started, found.address) == ("external", False, running.address)
    assert state.load(own_settings.host_port[1]) is None


def test_auto_reuses_the_recorded_broker_whatever_its_engine(own_settings):
    running = broker.up(ENGINE, settings=own_settings)
    found = broker.up("auto", settings=own_settings)
    assert (found.engine, found.pid, found.started) == (ENGINE, running.pid, False)


# -- bad input: clear message, bounded time ----------------------------------------------------------

def test_unknown_engine_is_refused_with_the_list_of_engines():
    with pytest.raises(broker.BrokerError, match="unknown engine 'nope'.*embedded"):
        broker.up("nope")


def test_port_held_by_a_plain_tcp_listener_is_reported(own_settings):
    with socket.socket() as listener:
        listener.bind(own_settings.host_port)
        listener.listen()
        start = time.monotonic()
        with pytest.raises(broker.BrokerError, match="taken by something that is not Kafka"):
            broker.up(ENGINE, settings=own_settings)
        assert time.monotonic() - start < 10


def test_unreachable_external_address_fails_within_its_timeout():
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    start = time.monotonic()
    with pytest.raises(broker.BrokerError, match="no Kafka broker answers"):
        broker.up("external", settings=settings, timeout_s=1)
    assert time.monotonic() - start < 5


def test_down_with_nothing_running_says_so(own_settings):
    with pytest.raises(broker.BrokerError, match="nothing to stop"):
        broker.down(settings=own_settings)


def test_another_process_stops_the_broker_this_process_started(own_settings):
    """A notebook kernel starts the broker, ``labkit broker down`` in a terminal stops it: the broker
    stays a zombie until its parent reaps it, which must count as stopped (not a 10 s timeout)."""
    import subprocess
    import sys

    info = broker.up(ENGINE, settings=own_settings)
    env = {**os.environ, "LABKIT_BOOTSTRAP_SERVERS": own_settings.bootstrap_servers}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "broker", "down"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and "stopped" in done.stdout, done.stdout + done.stderr
    assert time.monotonic() - started < 30
    assert state.load(own_settings.host_port[1]) is None
    try:
        os.waitpid(info.pid, 0)  # a zombie until now: ours to reap
    except ChildProcessError:
        pass
