"""Test fixtures: one real broker per test session, isolated topics per test.

``LABKIT_TEST_ENGINE`` picks the broker: ``kafka`` (Apache Kafka 4.4, the default), ``embedded``
(the lite Tansu broker) or ``external`` (``LABKIT_BOOTSTRAP_SERVERS``). Brokers started here run on a free port with
their own state directory and are stopped by the finalizer, even when tests fail.
"""

from __future__ import annotations

import itertools
import os
import re
import socket

import pytest

from labkit import broker
from labkit.kafka import topics
from labkit.settings import Settings, load

ENGINE = os.environ.get("LABKIT_TEST_ENGINE", "kafka")
_counter = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pytest_report_header(config):
    return f"labkit broker engine: {ENGINE}"


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory):
    """A private labkit state dir, so tests never touch a student's running broker."""
    path = tmp_path_factory.mktemp("labkit-state")
    old = os.environ.get("LABKIT_STATE_DIR")
    os.environ["LABKIT_STATE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("LABKIT_STATE_DIR", None)
    else:
        os.environ["LABKIT_STATE_DIR"] = old


@pytest.fixture(scope="session")
def broker_settings(state_dir) -> Settings:
    """Settings pointing at the session's broker (started here unless the engine is external)."""
    if ENGINE == "external":
        settings = load()
        broker.up("external", settings=settings)
        yield settings
        return
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    info = broker.up(ENGINE, settings=settings)
    try:
        yield settings
    finally:
        if info.started:
            broker.down(settings=settings)


@pytest.fixture
def settings(broker_settings, request) -> Settings:
    """The course topics under a unique prefix for this test, created before and deleted after."""
    name = re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40].strip("-")
    isolated = broker_settings.with_prefix(f"t{next(_counter)}-{name}-")
    topics.create(isolated)
    yield isolated
    try:
        topics.delete(isolated)
    except Exception:  # the broker may have been stopped by the test itself
        pass
