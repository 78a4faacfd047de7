"""The ``labkit`` command as a student types it: exit codes, one-line errors, bounded time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.conftest import ENGINE, free_port

LABKIT = [sys.executable, "-m", "labkit.cli"]


def run(*args, env=None, timeout=180):
    start = time.monotonic()
    done = subprocess.run([*LABKIT, *args], capture_output=True, text=True, timeout=timeout, env=env)
    return done.returncode, done.stdout, done.stderr, time.monotonic() - start


@pytest.fixture
def cli_env(state_dir):
    return os.environ | {"LABKIT_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}"}


def test_every_command_has_help():
    for args in (["--help"], ["broker", "--help"], ["broker", "up", "--help"], ["topics", "describe", "--help"],
                 ["lab", "--help"]):
        code, out, _, _ = run(*args)
        assert code == 0 and "usage: labkit" in out


def test_unknown_engine_is_a_usage_error():
    code, _, err, _ = run("broker", "up", "--engine", "nope")
    assert code == 2 and "invalid choice: 'nope'" in err


def test_down_with_nothing_running_is_one_clear_line(cli_env):
    code, _, err, _ = run("broker", "down", env=cli_env)
    assert code == 1
    assert err.strip().count("\n") == 0 and "nothing to stop" in err


def test_port_held_by_a_plain_listener(cli_env):
    port = int(cli_env["LABKIT_BOOTSTRAP_SERVERS"].rsplit(":", 1)[1])
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", port))
        listener.listen()
        code, _, err, took = run("broker", "up", "--engine", "embedded", env=cli_env)
    assert code == 1 and "not Kafka" in err and "Traceback" not in err
    assert took < 15


def test_unreachable_external_address(cli_env):
    code, _, err, took = run("broker", "up", "--engine", "external", "--timeout", "1", env=cli_env)
    assert code == 1 and "no Kafka broker answers" in err
    assert took < 10


def test_topics_without_a_broker_is_one_clear_line(cli_env):
    env = cli_env | {"LABKIT_FAST": "1"}
    code, _, err, took = run("topics", "list", env=env)
    assert code == 1 and "labkit broker up" in err and "Traceback" not in err
    assert took < 30


@pytest.mark.broker
@pytest.mark.skipif(ENGINE == "external", reason="engine 'external': labkit starts no broker")
def test_broker_and_topics_commands_end_to_end(cli_env):
    try:
        code, out, err, _ = run("broker", "up", "--engine", ENGINE, env=cli_env)
        assert code == 0, err
        assert "started" in out
        code, out, _, _ = run("broker", "status", env=cli_env)
        assert code == 0 and f"engine {ENGINE}" in out

        code, out, _, _ = run("topics", "create", env=cli_env)
        assert code == 0 and "orders           6 partitions  created" in out
        code, out, _, _ = run("topics", "create", env=cli_env)
        assert code == 0 and out.count("exists") == 3
        code, out, _, _ = run("topics", "list", env=cli_env)
        assert out.split() == ["orders", "orders.DLT", "orders.retry"]
        code, out, _, _ = run("topics", "describe", "orders", env=cli_env)
        assert "PartitionCount: 6" in out and out.count("Partition: ") == 6
        code, out, _, _ = run("topics", "delete", env=cli_env)
        assert code == 0 and out.count("deleted") == 3
        code, out, _, _ = run("topics", "list", env=cli_env)
        assert out.split() == []
    finally:
        code, out, err, _ = run("broker", "down", env=cli_env)
    assert code == 0 and "stopped" in out
    code, out, _, _ = run("broker", "status", env=cli_env)
    assert code == 1 and "stopped" in out
