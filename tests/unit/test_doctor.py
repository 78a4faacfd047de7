"""labkit doctor: one line per check with the fix; labkit lab stops on a [FAIL] before starting anything."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

from labkit.cli import doctor
from labkit.settings import load


def listening_socket() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen()
    return s


def test_every_line_has_a_status_a_name_and_a_detail():
    checks = [doctor.Check("python", doctor.OK, "3.11"), doctor.Check("jq", doctor.WARN, "not found: install it")]
    assert doctor.render(checks).splitlines() == ["[OK]   python  3.11", "[WARN] jq      not found: install it"]
    assert doctor.blocking(checks) == []


def test_a_taken_port_names_its_holder_and_only_warns():
    with listening_socket() as s:
        port = s.getsockname()[1]
        check = doctor._port(port, "the order API")
    assert check.status == doctor.WARN and f"pid {os.getpid()}" in check.detail, check


def test_something_that_is_not_kafka_on_the_broker_port_blocks():
    with listening_socket() as s:
        port = s.getsockname()[1]
        stop = threading.Event()

        def answer_garbage():  # a web server, say: it accepts and answers with something that is not Kafka
            s.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = s.accept()
                except OSError:
                    continue
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        t = threading.Thread(target=answer_garbage, daemon=True)
        t.start()
        try:
            check, answering = doctor._broker(load(bootstrap_servers=f"127.0.0.1:{port}"))
        finally:
            stop.set()
            t.join(5)
    assert check.status == doctor.FAIL and not answering and "not Kafka" in check.detail, check


def test_nothing_on_the_broker_port_is_fine_the_course_starts_kafka_there():
    with listening_socket() as s:
        port = s.getsockname()[1]
    check, answering = doctor._broker(load(bootstrap_servers=f"127.0.0.1:{port}"))
    assert check.status == doctor.OK and not answering and "starts Apache Kafka" in check.detail


def test_labkit_lab_stops_with_the_fix_when_no_java_can_run_kafka(tmp_path):
    """No broker answers and LABKIT_JAVA names no Java: lab says so and starts nothing (exit 1)."""
    with listening_socket() as s:
        port = s.getsockname()[1]
    env = os.environ | {"LABKIT_JAVA": str(tmp_path / "no-java"), "LABKIT_STATE_DIR": str(tmp_path / "state"),
                        "LABKIT_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}
    done = subprocess.run([sys.executable, "-m", "labkit.cli", "lab", "--dry-run"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "[FAIL] java" in done.stderr and "block the course" in done.stderr, done.stderr
    assert "starting JupyterLab" not in done.stdout
    doctor_run = subprocess.run([sys.executable, "-m", "labkit.cli", "doctor"], env=env, capture_output=True,
                                text=True, timeout=60)
    assert doctor_run.returncode == 1 and "[FAIL] java" in doctor_run.stdout, doctor_run.stdout
