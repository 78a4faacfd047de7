"""The error taxonomy: what is retried, what goes straight to the DLT, and how it is labelled."""

import pickle

import kafka.errors as kerr
import pytest

from labkit.errors import (
    AuthorizationFailed,
    DownstreamTimeout,
    LabkitError,
    MalformedPayload,
    MaxRetriesExceeded,
    PermanentError,
    RateLimited,
    ServiceUnavailable,
    TransientError,
    ValidationError,
    classify,
    describe,
    error_label,
    fqcn,
)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (TransientError("x"), "transient"),
        (DownstreamTimeout("order API took 30 s"), "transient"),
        (ServiceUnavailable("503"), "transient"),
        (RateLimited("429"), "transient"),
        (PermanentError("x"), "permanent"),
        (ValidationError("Invalid amount -50"), "permanent"),
        (MalformedPayload("empty payload"), "permanent"),
        (AuthorizationFailed("no"), "permanent"),
        (MaxRetriesExceeded(5, DownstreamTimeout("t")), "permanent"),
        (LabkitError("base"), "permanent"),
        (kerr.KafkaTimeoutError("metadata"), "transient"),
        (kerr.NotLeaderForPartitionError(), "transient"),
        (kerr.KafkaConnectionError(), "transient"),
        (kerr.TopicAuthorizationFailedError(), "permanent"),
        (kerr.KafkaError("generic"), "permanent"),
        (TimeoutError("socket"), "transient"),
        (ConnectionResetError("peer"), "transient"),
        (ConnectionRefusedError(), "transient"),
        (ValueError("bug"), "permanent"),
        (KeyError("amount"), "permanent"),
        (RuntimeError(), "permanent"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_classify(exc, expected):
    assert classify(exc) == expected


def test_classify_accepts_classes_and_instance_overrides():
    assert classify(kerr.KafkaTimeoutError) == "transient"
    assert classify(ValueError) == "permanent"
    flaky = ValueError("flaky")
    flaky.retriable = True  # an instance can say it on itself
    assert classify(flaky) == "transient"


@pytest.mark.parametrize(
    ("exc", "label"),
    [
        (LabkitError(), "LabkitException"),
        (TransientError(), "TransientException"),
        (DownstreamTimeout(), "TimeoutException"),
        (ServiceUnavailable(), "ServiceUnavailableException"),
        (RateLimited(), "RateLimitException"),
        (PermanentError(), "PermanentException"),
        (ValidationError(), "ValidationException"),
        (MalformedPayload(), "MalformedPayloadException"),
        (AuthorizationFailed(), "AuthorizationException"),
        (MaxRetriesExceeded(5), "MaxRetriesExceededException"),
        (ValueError(), "ValueError"),
        (kerr.KafkaTimeoutError(), "KafkaTimeoutError"),
    ],
)
def test_error_label(exc, label):
    assert error_label(exc) == label


def test_describe_matches_the_module_dlt_message():
    assert describe(ValidationError("Invalid amount -50")) == "ValidationException: Invalid amount -50"
    assert describe(ValueError("boom")) == "ValueError: boom"
    assert describe(ServiceUnavailable()) == "ServiceUnavailableException"


def test_describe_does_not_repeat_kafka_python_class_prefix():
    # kafka-python's KafkaError.__str__ already prints "KafkaTimeoutError: ..."
    assert describe(kerr.KafkaTimeoutError("Failed to update metadata")) == (
        "KafkaTimeoutError: Failed to update metadata"
    )


def test_fqcn():
    assert fqcn(ValidationError("x")) == "labkit.errors.ValidationError"
    assert fqcn(ValueError()) == "builtins.ValueError"
    assert fqcn(kerr.KafkaTimeoutError) == "kafka.errors.KafkaTimeoutError"


def test_max_retries_exceeded_carries_attempts_and_cause():
    last = DownstreamTimeout("order API did not answer")
    exc = MaxRetriesExceeded(5, last)
    assert (exc.attempts, exc.last_error, exc.__cause__) == (5, last, last)
    assert describe(exc) == (
        "MaxRetriesExceededException: gave up after 5 retries "
        "(last error: TimeoutException: order API did not answer)"
    )
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.attempts, str(copy)) == (5, str(exc))


def test_hierarchy():
    assert issubclass(DownstreamTimeout, TransientError) and issubclass(TransientError, LabkitError)
    assert issubclass(MaxRetriesExceeded, PermanentError) and issubclass(PermanentError, LabkitError)
    assert TransientError.retriable and not PermanentError.retriable and not LabkitError.retriable
