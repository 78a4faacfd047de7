"""A long wait says what it waits for (a cell silent for 20 s looks hung), and how it ended."""

from __future__ import annotations

import threading

import pytest

from labkit import wait


class Recorder:
    made: list[Recorder] = []

    def __init__(self, what, timeout_s):
        self.what, self.timeout_s, self.updates, self.ended = what, timeout_s, 0, None
        Recorder.made.append(self)

    def update(self, elapsed_s):
        self.updates += 1

    def done(self, elapsed_s, reached):
        self.ended = reached


@pytest.fixture
def recorder(monkeypatch):
    Recorder.made = []
    monkeypatch.setattr(wait, "PROGRESS_AFTER_S", 0.0)
    wait.set_progress(Recorder)
    yield Recorder
    wait.set_progress(None)


def countdown(n):
    left = iter(range(n, -1, -1))
    return lambda: next(left) == 0


def test_a_long_wait_shows_what_it_waits_for_and_that_it_was_reached(recorder):
    assert wait.wait_until(countdown(3), 5, what="ORD-RETRY processed", interval_s=0.001)
    (shown,) = recorder.made
    assert shown.what == "ORD-RETRY processed" and shown.timeout_s == 5 and shown.updates >= 1 and shown.ended is True


def test_a_timeout_or_an_error_ends_the_display_as_not_reached(recorder):
    with pytest.raises(wait.WaitTimeout):
        wait.wait_until(lambda: False, 0.05, what="never", interval_s=0.001)

    def boom():
        raise KeyError("x")

    with pytest.raises(KeyError):
        wait.wait_until(boom, 1, what="broken", interval_s=0.001)
    assert [r.ended for r in recorder.made] == [False]  # boom raised before the first progress step


def test_only_the_main_threads_outermost_wait_reports(recorder):
    inner = []
    assert wait.wait_until(lambda: inner.append(wait.wait_until(countdown(1), 1, interval_s=0.001)) or len(inner) > 1,
                           5, what="outer", interval_s=0.001)
    background = threading.Thread(target=wait.wait_until, args=(countdown(2), 1), kwargs={"interval_s": 0.001})
    background.start()
    background.join(5)
    assert [r.what for r in recorder.made] == ["outer"]


def test_the_notebook_line_has_a_bar_of_the_deadline_used():
    from labkit.notebook.display import WaitProgress

    progress = WaitProgress.__new__(WaitProgress)
    progress.what, progress.timeout_s = "the rebalance", 30
    line = progress._line(15).data
    assert line.startswith("⏳ waiting for the rebalance") and "█" * 12 + "░" * 12 in line
    assert line.endswith("15 s (at most 30 s)")
