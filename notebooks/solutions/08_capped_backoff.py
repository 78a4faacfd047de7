from labkit.policy import ExponentialJitter, RetryPolicy, stop_after_attempt, stop_after_delay

# 1 s, 2 s, 4 s ... doubling, never more than 5 minutes (± 20 % jitter so consumers stay out of step);
# give up after 12 retries or 30 minutes, whichever comes first.
reference_capped = RetryPolicy(
    wait=ExponentialJitter(initial_s=1.0, multiplier=2.0, max_s=300.0, jitter_factor=0.2),
    stop=stop_after_attempt(12) | stop_after_delay(30 * 60),
)
