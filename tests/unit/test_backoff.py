"""Backoff schedules, stop rules and the retry policy: exact where deterministic, bounded where random."""

import random

import kafka.errors as kerr
import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import DownstreamTimeout, PermanentError, TransientError, ValidationError
from labkit.policy.retry import RetryPolicy, retry_config
from labkit.policy.stop import stop_after_attempt, stop_after_delay
from labkit.policy.wait import (
    WAIT_STRATEGIES,
    Wait,
    decorrelated_jitter,
    equal_jitter,
    exponential,
    exponential_jitter,
    fixed,
    full_jitter,
    immediate,
)

attempts = st.integers(min_value=1, max_value=2000)
seeds = st.integers(min_value=0, max_value=2**32)


# --- deterministic waits -------------------------------------------------------------------------


def test_immediate_and_fixed():
    assert immediate().schedule(3) == [0.0, 0.0, 0.0]
    assert fixed(1.0).schedule(3) == [1.0, 1.0, 1.0]


def test_exponential_doubles():
    assert exponential().schedule(5) == [1, 2, 4, 8, 16]


def test_exponential_is_capped():
    assert exponential(initial_s=1, multiplier=2, max_s=5).schedule(5) == [1, 2, 4, 5, 5]


def test_module_five_minute_cap_is_reached_at_attempt_10():
    delays = exponential(1.0, 2.0, 300.0).schedule(11)
    assert delays[8] == 256 and delays[9] == 300 and delays[10] == 300


def test_huge_attempt_numbers_do_not_overflow():
    assert exponential()(5000, random.Random(0)) == 300.0
    assert exponential_jitter(cap_after_jitter=True)(5000, random.Random(0)) == 300.0
    assert full_jitter()(5000, random.Random(0)) <= 300.0


def test_attempt_is_one_based():
    with pytest.raises(ValueError, match="1-based"):
        fixed(1)(0, random.Random(0))


@pytest.mark.parametrize(
    "build", [lambda: fixed(-1), lambda: exponential(initial_s=-1), lambda: exponential(multiplier=0.5),
              lambda: exponential_jitter(jitter_factor=1.5), lambda: full_jitter(max_s=float("nan")),
              lambda: stop_after_attempt(-1), lambda: stop_after_delay(-1), lambda: fixed(1).scaled(-2)],
)
def test_invalid_parameters_are_rejected(build):
    with pytest.raises(ValueError):
        build()


# --- jittered waits -------------------------------------------------------------------------------


@given(attempts, seeds)
def test_exponential_jitter_bounds(attempt, seed):
    base = min(300.0, 2.0 ** (attempt - 1)) if attempt < 60 else 300.0
    delay = exponential_jitter(1.0, 2.0, 300.0, 0.2)(attempt, random.Random(seed))
    assert base * 0.8 <= delay <= base * 1.2


def test_exponential_jitter_matches_the_module_diagram():
    # 1 s ± 0.2 s, 2 s ± 0.4 s, 4 s ± 0.8 s
    for seed in range(200):
        d1, d2, d3 = exponential_jitter().schedule(3, seed)
        assert 0.8 <= d1 <= 1.2 and 1.6 <= d2 <= 2.4 and 3.2 <= d3 <= 4.8


def test_jitter_survives_the_cap_by_default():
    at_cap = [exponential_jitter().schedule(12, seed)[-1] for seed in range(200)]
    assert all(240 <= d <= 360 for d in at_cap)
    assert len(set(at_cap)) == 200  # still spread: consumers stay desynchronised


def test_cap_after_jitter_collapses_like_resilience4j():
    at_cap = [exponential_jitter(cap_after_jitter=True).schedule(12, seed)[-1] for seed in range(200)]
    assert set(at_cap) == {300.0}  # every client retries at the same instant
    below_cap = [exponential_jitter(cap_after_jitter=True).schedule(3, seed)[-1] for seed in range(200)]
    assert all(3.2 <= d <= 4.8 for d in below_cap) and len(set(below_cap)) > 1


@given(attempts, seeds)
def test_full_jitter_bounds(attempt, seed):
    cap = min(300.0, 2.0 ** (attempt - 1)) if attempt < 60 else 300.0
    assert 0.0 <= full_jitter(1.0, 300.0)(attempt, random.Random(seed)) <= cap


@given(attempts, seeds)
def test_equal_jitter_bounds(attempt, seed):
    v = min(300.0, 2.0 ** (attempt - 1)) if attempt < 60 else 300.0
    assert v / 2 <= equal_jitter(1.0, 300.0)(attempt, random.Random(seed)) <= v


@given(seeds, st.floats(min_value=0.001, max_value=10), st.floats(min_value=1, max_value=1000))
def test_decorrelated_jitter_stays_within_base_and_three_times_previous(seed, base, cap):
    wait = decorrelated_jitter(base_s=base, max_s=cap)
    previous = base
    for delay in wait.schedule(30, seed):
        assert min(base, cap) <= delay <= min(cap, 3 * previous) + 1e-9
        previous = delay


def test_decorrelated_jitter_reads_previous_per_record():
    wait, rng = decorrelated_jitter(1.0, 300.0), random.Random(0)
    assert 1.0 <= wait(1, rng) <= 3.0  # previous defaults to base
    assert 1.0 <= wait(2, rng, previous=100.0) <= 300.0
    assert wait(2, random.Random(1), previous=100.0) != wait(2, random.Random(1), previous=1.0)


@pytest.mark.parametrize(
    "wait", [exponential_jitter(), full_jitter(), equal_jitter(), decorrelated_jitter()],
    ids=lambda w: type(w).__name__,
)
def test_jittered_schedules_are_seed_reproducible(wait):
    assert wait.schedule(8, seed=42) == wait.schedule(8, seed=42)
    assert wait.schedule(8, seed=42) != wait.schedule(8, seed=43)


# --- composition -----------------------------------------------------------------------------------


def test_waits_add_up_and_sum_works():
    assert (fixed(1) + exponential()).schedule(4) == [2, 3, 5, 9]
    assert sum([fixed(1), fixed(2), exponential()]).schedule(3) == [4, 5, 7]
    combined = fixed(1) + full_jitter(1, 300)
    assert isinstance(combined, Wait)
    assert all(1 <= d <= 1 + 2 ** i for i, d in enumerate(combined.schedule(6, seed=3)))


def test_adding_a_non_wait_is_a_type_error():
    with pytest.raises(TypeError):
        fixed(1) + 2  # noqa: B018


def test_scaled_multiplies_every_delay():
    assert exponential().scaled(0.01).schedule(4) == pytest.approx([0.01, 0.02, 0.04, 0.08])
    assert fixed(1).scaled(0.5).scaled(0.5).schedule(1) == [0.25]
    for wait in (exponential_jitter(), decorrelated_jitter()):
        assert wait.scaled(0.001).schedule(10, seed=7) == pytest.approx(
            [d * 0.001 for d in wait.schedule(10, seed=7)]
        )


# --- stops -------------------------------------------------------------------------------------------


def test_stop_after_attempt_counts_retries():
    stop = stop_after_attempt(5)
    assert [stop(a, 0.0) for a in range(1, 7)] == [False] * 5 + [True]
    assert stop_after_attempt(0)(1, 0.0)  # no retry at all


def test_stop_after_delay():
    stop = stop_after_delay(10)
    assert not stop(100, 9.99) and stop(1, 10.0)


def test_stop_combinators():
    either = stop_after_attempt(3) | stop_after_delay(10)
    both = stop_after_attempt(3) & stop_after_delay(10)
    assert (either(4, 0), either(1, 10), either(3, 9)) == (True, True, False)
    assert (both(4, 0), both(1, 10), both(4, 10)) == (False, False, True)
    assert (either.max_attempts, both.max_attempts) == (3, None)
    assert (stop_after_attempt(3) & stop_after_attempt(7)).max_attempts == 7


# --- the policy --------------------------------------------------------------------------------------


def test_retry_config_is_the_module_config():
    policy = retry_config()
    assert policy.max_attempts == 5 and policy.max_deliveries == 6
    assert policy.retry_on == (TransientError,)
    assert policy.wait == exponential_jitter(1.0, 2.0, 300.0, 0.2)
    delays = policy.schedule(seed=1)
    assert len(delays) == 5
    assert all(0.8 * 2**i <= d <= 1.2 * 2**i for i, d in enumerate(delays))


def test_max_attempts_retries_then_dlt_with_retry_count_equal_to_max_attempts():
    policy, exc, retries = retry_config(), DownstreamTimeout("down"), 0
    while policy.should_retry(exc, retries + 1, elapsed_s=0.0):
        retries += 1
    assert retries == policy.max_attempts == 5


@pytest.mark.parametrize(
    ("exc", "retry_on", "expected"),
    [
        (DownstreamTimeout(), (TransientError,), True),
        (ValidationError(), (TransientError,), False),
        (ValueError(), (TransientError,), False),
        (kerr.KafkaTimeoutError(), (TransientError,), False),  # not in the allow-list
        (kerr.KafkaTimeoutError(), (Exception,), True),  # Exception = trust classify()
        (kerr.TopicAuthorizationFailedError(), (Exception,), False),
        (ValueError(), (Exception,), False),  # unknown exceptions are never retried
        (TimeoutError(), (Exception,), True),
        (ValidationError(), (PermanentError,), False),  # listed but permanent: still not retried
    ],
)
def test_should_retry_needs_the_allow_list_and_a_transient_classification(exc, retry_on, expected):
    assert RetryPolicy(retry_on=retry_on).should_retry(exc, attempt=1) is expected


def test_should_retry_honours_the_stop():
    policy = RetryPolicy(wait=fixed(1), stop=stop_after_delay(30), max_attempts=10)
    assert policy.max_attempts == 10
    assert policy.should_retry(DownstreamTimeout(), 10, elapsed_s=29)
    assert not policy.should_retry(DownstreamTimeout(), 11, elapsed_s=0)
    assert not policy.should_retry(DownstreamTimeout(), 2, elapsed_s=30)


def test_policy_schedule_stops_on_time_too():
    policy = RetryPolicy(wait=fixed(4), stop=stop_after_delay(10), max_attempts=10)
    assert policy.schedule() == [4, 4, 4]  # elapsed 0, 4, 8 -> retry; 12 -> stop
    with pytest.raises(ValueError, match="pass n"):
        RetryPolicy(wait=fixed(1), stop=stop_after_delay(5)).schedule()
    assert RetryPolicy(wait=fixed(1), stop=stop_after_delay(5)).schedule(n=10) == [1] * 5


def test_policy_delay_threads_previous_and_rng():
    policy = RetryPolicy(wait=decorrelated_jitter(1, 300))
    a = [policy.delay(1, None, random.Random(9))]
    a.append(policy.delay(2, a[0], random.Random(9)))
    assert 1 <= a[0] <= 3 and 1 <= a[1] <= 3 * a[0]
    assert 0.8 <= retry_config().delay(1) <= 1.2


def test_policy_scaled_keeps_decisions_and_shrinks_time():
    policy = RetryPolicy(wait=fixed(4), stop=stop_after_delay(10), max_attempts=10)
    fast = policy.scaled(0.001)
    assert fast.schedule() == pytest.approx([0.004] * 3)
    assert fast.max_attempts == 10 and fast.retry_on == policy.retry_on
    assert retry_config().scaled(0.01).schedule(seed=5) == pytest.approx(
        [d * 0.01 for d in retry_config().schedule(seed=5)]
    )


def test_default_policy_and_single_exception_type():
    assert RetryPolicy().max_attempts == 5
    assert RetryPolicy(retry_on=TransientError).retry_on == (TransientError,)
    assert RetryPolicy(max_attempts=0).schedule() == []


def test_module_strategies():
    assert set(WAIT_STRATEGIES) == {"immediate", "fixed", "exponential", "exponential+jitter"}
    assert WAIT_STRATEGIES["immediate"]().schedule(3) == [0, 0, 0]
    assert WAIT_STRATEGIES["fixed"]().schedule(3) == [1.0, 1.0, 1.0]
    assert WAIT_STRATEGIES["exponential"]().schedule(3) == [1, 2, 4]
    assert WAIT_STRATEGIES["exponential+jitter"]() == exponential_jitter(1.0, 2.0, 300.0, 0.2)
