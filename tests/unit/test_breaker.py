"""The circuit breaker on a fake clock: storm, rejection, half-open probes, recovery, stuck probes."""

import pytest

from labkit.policy.breaker import BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def changes():
    return []


@pytest.fixture
def breaker(clock, changes):
    return CircuitBreaker(
        failure_rate_threshold=0.5, window_size=10, minimum_calls=4, open_duration_s=10.0,
        half_open_max_calls=3, half_open_timeout_s=5.0, clock=clock,
        on_state_change=lambda old, new: changes.append((old, new)),
    )


def storm(breaker, n):
    for _ in range(n):
        assert breaker.allow()
        breaker.record_failure()


def open_then_half_open(breaker, clock):
    storm(breaker, 4)
    clock.advance(10.0)
    assert breaker.state is HALF_OPEN


def test_starts_closed_and_allows(breaker):
    assert breaker.state is CLOSED and breaker.allow()


def test_no_verdict_before_minimum_calls(breaker):
    storm(breaker, 3)
    assert breaker.state is CLOSED


def test_opens_on_storm(breaker, changes):
    storm(breaker, 4)
    assert breaker.state is OPEN
    assert changes == [(CLOSED, OPEN)]


def test_opens_at_the_threshold_not_below(breaker):
    for outcome in [True, True, True, False, False]:  # 2 failures / 5 = 40 %
        breaker.record_success() if outcome else breaker.record_failure()
    assert breaker.state is CLOSED
    breaker.record_failure()  # 3 / 6 = 50 %
    assert breaker.state is OPEN


def test_window_forgets_old_outcomes(breaker):
    breaker.record_failure()
    for _ in range(10):
        breaker.record_success()  # pushes the failure out of the 10-slot window
    assert breaker.failure_rate == 0.0 and breaker.state is CLOSED
    storm(breaker, 4)  # 4 / 10 = 40 %
    assert breaker.state is CLOSED
    breaker.record_failure()  # 5 / 10
    assert breaker.state is OPEN


def test_rejects_while_open_and_counts_rejections(breaker, clock):
    storm(breaker, 4)
    clock.advance(9.9)
    assert [breaker.allow() for _ in range(5)] == [False] * 5
    assert breaker.remaining_open_s() == pytest.approx(0.1)
    assert breaker.snapshot()["rejected"] == 5


def test_half_open_after_open_duration(breaker, clock, changes):
    open_then_half_open(breaker, clock)
    assert breaker.remaining_open_s() == 0.0
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_half_open_allows_only_max_probes(breaker, clock):
    open_then_half_open(breaker, clock)
    assert [breaker.allow() for _ in range(5)] == [True, True, True, False, False]


def test_closes_after_successful_probes(breaker, clock, changes):
    open_then_half_open(breaker, clock)
    for _ in range(3):
        assert breaker.allow()
        breaker.record_success()
    assert breaker.state is CLOSED
    assert breaker.snapshot()["calls"] == 0  # window cleared: a fresh start
    assert changes[-1] == (HALF_OPEN, CLOSED)


def test_reopens_on_failed_probe(breaker, clock, changes):
    open_then_half_open(breaker, clock)
    assert breaker.allow()
    breaker.record_success()
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is OPEN
    assert breaker.remaining_open_s() == 10.0
    assert changes[-1] == (HALF_OPEN, OPEN)
    assert breaker.snapshot()["times_opened"] == 2


def test_probe_that_never_reports_counts_as_failed(breaker, clock, changes):
    open_then_half_open(breaker, clock)
    assert breaker.allow()  # the probe hangs forever
    clock.advance(4.9)
    assert breaker.state is HALF_OPEN
    clock.advance(0.1)
    assert breaker.state is OPEN  # not stuck in half open (resilience4j#903)
    assert changes[-1] == (HALF_OPEN, OPEN)
    clock.advance(10.0)
    assert breaker.allow()  # probing again


def test_without_probe_timeout_a_hung_probe_blocks_forever(clock):
    breaker = CircuitBreaker(window_size=4, minimum_calls=4, half_open_max_calls=1,
                             half_open_timeout_s=None, clock=clock)
    storm(breaker, 4)
    clock.advance(10.0)
    assert breaker.allow()
    clock.advance(3600.0)
    assert breaker.state is HALF_OPEN and not breaker.allow()  # the #903 symptom


def test_late_outcomes_are_ignored(breaker, clock):
    storm(breaker, 4)
    breaker.record_success()  # a call allowed before the breaker opened reports late
    breaker.record_failure()
    assert breaker.state is OPEN and breaker.snapshot()["times_opened"] == 1
    clock.advance(10.0)
    breaker.record_success()  # HALF_OPEN but no probe out: not a probe result
    assert breaker.state is HALF_OPEN and breaker.snapshot()["half_open_successes"] == 0


def test_snapshot(breaker):
    breaker.record_failure()
    breaker.record_success()
    assert breaker.snapshot() == {
        "state": "CLOSED", "failure_rate": 0.5, "calls": 2, "failures": 1, "window_size": 10,
        "minimum_calls": 4, "failure_rate_threshold": 0.5, "remaining_open_s": 0.0,
        "half_open_in_flight": 0, "half_open_successes": 0, "times_opened": 0, "rejected": 0,
    }


def test_reset(breaker, changes):
    storm(breaker, 4)
    breaker.reset()
    assert breaker.state is CLOSED and breaker.failure_rate == 0.0
    assert changes[-1] == (OPEN, CLOSED)


@pytest.mark.parametrize(
    "kwargs",
    [{"failure_rate_threshold": 0}, {"failure_rate_threshold": 1.5}, {"window_size": 0},
     {"window_size": 5, "minimum_calls": 6}, {"minimum_calls": 0}, {"open_duration_s": -1},
     {"half_open_max_calls": 0}, {"half_open_timeout_s": 0}],
)
def test_invalid_parameters_are_rejected(kwargs):
    with pytest.raises(ValueError):
        CircuitBreaker(**kwargs)
