from labkit.policy import CircuitBreaker

# Open when half of the last 4 calls failed; after 1 s let one probe through; close if it succeeds.
reference_breaker = CircuitBreaker(failure_rate_threshold=0.5, window_size=4, minimum_calls=4,
                                   open_duration_s=1.0, half_open_max_calls=1, half_open_timeout_s=5.0)
