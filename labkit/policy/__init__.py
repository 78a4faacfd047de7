"""Retry policies and the circuit breaker: pure decisions (when to wait, how long, when to stop), no Kafka, no clock."""
