"""State files cannot be turned against the user: names stay inside the state dir, links are never
followed, files are 0600 and dirs 0700 whatever the umask, and a PID read from a state file is
signalled only when it still is the process labkit recorded."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from labkit import broker, paths
from labkit.broker import state
from labkit.broker.errors import BrokerError
from labkit.cli.app import main
from labkit.wait import wait_until

PRECIOUS = "the student's own file\n"


@pytest.fixture
def own_state(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "state"
    monkeypatch.setenv("LABKIT_STATE_DIR", str(path))
    return path


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@contextmanager
def sleeper():
    """A live process that labkit did not start (a `sleep 60` of the user)."""
    proc = subprocess.Popen(["sleep", "60"])
    try:
        yield proc
    finally:
        proc.kill()
        proc.wait(10)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def precious(tmp_path: Path) -> Path:
    target = tmp_path / "precious.txt"
    target.write_text(PRECIOUS)
    return target


# --- names -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc/passwd", "..", ".", ".hidden", "", "a\\b", "a\x00b",
                                  "x" * 200, "a b", "consumer-1\n"])
def test_a_name_with_a_path_in_it_is_refused(name):
    with pytest.raises(ValueError, match="name"):
        paths.check_name(name)


@pytest.mark.parametrize("name", ["consumer-1", "consumer-12345", "c1", "my_consumer.2", "Consumer-A"])
def test_ordinary_names_pass(name):
    assert paths.check_name(name) == name


def test_labkit_consumer_refuses_a_name_outside_the_state_dir(own_state, tmp_path):
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "consumer", "--name", "../x",
                          "--bootstrap-servers", "127.0.0.1:1", "--no-http", "--no-events"],
                         capture_output=True, text=True, timeout=60,
                         env=os.environ | {"LABKIT_STATE_DIR": str(own_state)})
    assert out.returncode == 2, out
    assert "--name" in out.stderr and "../x" in out.stderr and "Traceback" not in out.stderr
    assert not (own_state / "x.log").exists() and not (tmp_path / "x.log").exists()


def test_a_consumer_group_refuses_a_name_with_a_path():
    from labkit.group import ConsumerGroup
    from labkit.settings import Settings

    group = ConsumerGroup(Settings(), processes=True)
    try:
        with pytest.raises(ValueError, match="name"):
            group.add("../x")
        with pytest.raises(ValueError, match="name"):
            ConsumerGroup(Settings(), name_prefix="../evil")
    finally:
        group.close()


# --- links -----------------------------------------------------------------------------------------


def test_a_symlinked_broker_log_is_not_followed(own_state, tmp_path):
    target = precious(tmp_path)
    log = paths.state_dir() / "embedded-5.log"
    log.symlink_to(target)
    before = {p.pid for p in psutil.Process().children()}
    with pytest.raises(BrokerError, match="link"):
        state.launch("embedded", "a test broker", ["sleep", "60"], "127.0.0.1", 5, log, timeout_s=0.5)
    assert target.read_text() == PRECIOUS
    assert [p for p in psutil.Process().children() if p.pid not in before] == []  # nothing was started


def test_a_symlinked_api_log_is_not_followed(tmp_path):
    from labkit.api.server import configure_logging

    target = precious(tmp_path)
    link = tmp_path / "labkit-api.log"
    link.symlink_to(target)
    with pytest.raises(paths.UnsafePath, match="link"):
        configure_logging(link, console=False)
    logging.getLogger("labkit").info("a line that must not reach the target")
    assert target.read_text() == PRECIOUS


def test_a_symlinked_state_record_or_its_temp_file_is_not_followed(own_state, tmp_path):
    target = precious(tmp_path)
    base = paths.state_dir()
    (base / "broker-5.tmp").symlink_to(target)
    (base / "broker-6.json").symlink_to(target)
    record = state.BrokerRecord("kafka", "127.0.0.1", 5, 1, 1.0, "log")
    state.save(record)
    assert state.load(5) == record
    assert state.load(6) is None  # a record that is a link is not read
    state.save(state.BrokerRecord("kafka", "127.0.0.1", 6, 1, 1.0, "log"))
    assert target.read_text() == PRECIOUS
    assert not (base / "broker-6.json").is_symlink() and state.load(6).port == 6


def test_a_symlinked_fifo_or_hard_linked_file_is_refused(tmp_path):
    fifo = tmp_path / "fifo.log"
    os.mkfifo(fifo)
    with pytest.raises(paths.UnsafePath, match="regular file"):
        paths.open_private(fifo)  # a FIFO would block the writer forever
    target = precious(tmp_path)
    os.link(target, tmp_path / "hard.log")
    with pytest.raises(paths.UnsafePath, match="link"):
        paths.open_private(tmp_path / "hard.log", truncate=True)
    assert target.read_text() == PRECIOUS


# --- modes -----------------------------------------------------------------------------------------


def test_state_files_are_0600_and_dirs_0700_under_umask_000(own_state, tmp_path):
    from labkit.api.server import configure_logging

    with umask(0):
        base = paths.state_dir()
        state.save(state.BrokerRecord("kafka", "127.0.0.1", 5, 1, 1.0, "log"))
        fd = paths.open_private(base / "embedded-5.log", truncate=True)
        os.close(fd)
        deep = paths.private_dir(tmp_path / "logs" / "a" / "b")
        undo = configure_logging(deep / "api.log", console=False)
        undo()
        handler = paths.PrivateFileHandler(base / "consumers" / "c1.log")
        handler.close()
    assert mode(base) == 0o700
    for d in (tmp_path / "logs", tmp_path / "logs" / "a", deep, base / "consumers"):
        assert mode(d) == 0o700, d
    for f in (base / "broker-5.json", base / "embedded-5.log", deep / "api.log", base / "consumers" / "c1.log"):
        assert mode(f) == 0o600, f


def test_an_existing_state_dir_is_made_private(own_state):
    own_state.mkdir()
    own_state.chmod(0o777)
    assert mode(paths.state_dir()) == 0o700


def test_appending_keeps_an_existing_log(tmp_path):
    path = tmp_path / "api.log"
    path.write_text("yesterday\n")
    fd = paths.open_private(path)
    os.write(fd, b"today\n")
    os.close(fd)
    assert path.read_text() == "yesterday\ntoday\n" and mode(path) == 0o600


# --- PIDs from state files -------------------------------------------------------------------------


def forge(pid: int, port: int, engine: str = "kafka", cmdline: list[str] | None = None) -> state.BrokerRecord:
    """A state file naming ``pid`` with its real start time (what a PID reused after a reboot, or a
    forged file, looks like)."""
    record = state.BrokerRecord(engine, "127.0.0.1", port, pid, psutil.Process(pid).create_time(), "log",
                                **({} if cmdline is None else {"cmdline": cmdline}))
    state.save(record)
    return record


def test_broker_down_all_never_signals_another_process(own_state, capsys):
    with sleeper() as proc:
        forge(proc.pid, 5)
        forge(proc.pid, 6, engine="embedded")
        assert main(["broker", "down", "--all"]) == 0
        out = capsys.readouterr().out
        assert proc.poll() is None, "labkit signalled a process it did not start"
        assert out.count("not signalled") == 2 and "sleep 60" in out and "stale record dropped" in out, out
        assert state.all_records() == []


def test_a_forged_record_with_the_processes_own_command_line_is_not_signalled(own_state):
    with sleeper() as proc:
        forge(proc.pid, 6, engine="embedded", cmdline=["sleep", "60"])
        [line] = broker.down(port=6)
        assert "not signalled" in line and proc.poll() is None
        assert state.load(6) is None


def test_broker_down_on_a_port_and_status_treat_a_forged_record_as_stale(own_state):
    with sleeper() as proc:
        record = forge(proc.pid, 5)
        assert not record.alive()
        assert broker.status(port=5)["state"].startswith("stale")
        [line] = broker.down(port=5)
        assert "not signalled" in line and proc.poll() is None
        assert state.load(5) is None


def test_a_recorded_broker_is_still_stopped(own_state):
    """The process labkit started (its command line recorded by launch) is still stopped by down."""
    argv = [sys.executable, "-c", "import time; time.sleep(60)", "kafka.Kafka", "server.properties"]
    proc = subprocess.Popen(argv)
    try:
        wait_until(lambda: psutil.Process(proc.pid).cmdline() == argv, 10, "the process to exec")
        forge(proc.pid, 5, cmdline=argv)
        [line] = broker.down(port=5)
        assert "stopped" in line and "not signalled" not in line
        assert proc.wait(10) is not None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_a_record_from_before_command_lines_were_recorded_is_checked_by_its_signature(own_state):
    with sleeper() as proc:
        record = state.BrokerRecord("kafka", "127.0.0.1", 5, proc.pid, psutil.Process(proc.pid).create_time(), "log")
        state.save(record)
        assert "not signalled" in state.stop_process(state.load(5), 1.0)
        assert proc.poll() is None
