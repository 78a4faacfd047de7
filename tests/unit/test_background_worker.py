"""The thread the two confluent-kafka workers (share, KIP-848) run their loop on: ``start`` runs ``run``
on a daemon thread named after the worker, ``request_stop`` only asks, ``stop`` asks and waits, ``alive``
says whether the loop still runs. No broker: a loop that waits for its stop."""

from __future__ import annotations

import threading

from labkit.engine.background import BackgroundWorker
from labkit.engine.kip848 import Kip848Worker
from labkit.engine.share import ShareWorker
from labkit.wait import wait_until


class Loop(BackgroundWorker):
    THREAD_PREFIX = "labkit-test"

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.running = threading.Event()
        self.thread_name = ""

    def run(self) -> None:
        self.thread_name = threading.current_thread().name
        self.running.set()
        self._stop.wait(30)  # a loop polls until asked to stop


def test_start_runs_the_loop_on_a_daemon_thread_named_after_the_worker_and_returns_the_worker():
    loop = Loop("one")
    assert not loop.alive  # not started
    assert loop.start() is loop
    try:
        wait_until(loop.running.is_set, 5, "the loop running")
        assert loop.alive and loop.thread_name == "labkit-test-one"
        assert next(t for t in threading.enumerate() if t.name == "labkit-test-one").daemon
    finally:
        loop.stop(5)
    assert not loop.alive


def test_request_stop_asks_without_waiting_and_stop_waits_for_the_loop_to_end():
    loop = Loop("two").start()
    wait_until(loop.running.is_set, 5, "the loop running")
    loop.request_stop()
    wait_until(lambda: not loop.alive, 5, "the loop ended after request_stop")
    loop.stop(5)  # stopping a stopped worker is harmless
    assert not loop.alive


def test_stop_before_start_does_nothing():
    loop = Loop("three")
    loop.stop(1)
    assert not loop.alive


def test_both_confluent_workers_run_on_it_under_their_own_thread_names():
    assert issubclass(ShareWorker, BackgroundWorker) and ShareWorker.THREAD_PREFIX == "labkit-share"
    assert issubclass(Kip848Worker, BackgroundWorker) and Kip848Worker.THREAD_PREFIX == "labkit-kip848"
