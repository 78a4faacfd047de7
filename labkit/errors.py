"""Error taxonomy: which failures are worth a retry, which go straight to the Dead Letter Topic.

The module's rule (Partie 2, "Erreurs Retryables vs Non-Retryables"):

* **transient** (timeout, service unavailable, rate limit) -> retry with backoff;
* **permanent** (validation, malformed message, authorization) -> DLT at once.

Like kafka-python's ``kafka/errors.py``, each class says it on itself with a ``retriable`` class
attribute, so :func:`classify` needs no lookup table. ``label`` is the Java-style name the
module prints in the DLT ``errorMessage`` (``"ValidationException: Invalid amount -50"``).
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "LabkitError",
    "TransientError",
    "DownstreamTimeout",
    "ServiceUnavailable",
    "RateLimited",
    "PermanentError",
    "ValidationError",
    "MalformedPayload",
    "AuthorizationFailed",
    "MaxRetriesExceeded",
    "Classification",
    "classify",
    "error_label",
    "error_message",
    "describe",
    "fqcn",
    "START_A_BROKER",
    "no_broker",
    "friendly",
]

Classification = Literal["transient", "permanent"]


class LabkitError(Exception):
    """Base of the course's errors. Not retriable unless a subclass says so."""

    retriable: bool = False
    label: str = "LabkitException"


# --- transient: the same record may well succeed a moment later -------------------------------


class TransientError(LabkitError):
    """A failure that time may cure: retry with backoff, then DLT if it persists."""

    retriable = True
    label = "TransientException"


class DownstreamTimeout(TransientError):
    """The downstream service (order API, database...) did not answer in time."""

    label = "TimeoutException"


class ServiceUnavailable(TransientError):
    """The downstream service answered 503 or refused the connection."""

    label = "ServiceUnavailableException"


class RateLimited(TransientError):
    """The downstream service asked us to slow down (HTTP 429)."""

    label = "RateLimitException"


# --- permanent: retrying the same bytes gives the same answer ----------------------------------


class PermanentError(LabkitError):
    """A failure no retry can cure: the record goes to the DLT on the first failure."""

    retriable = False
    label = "PermanentException"


class ValidationError(PermanentError):
    """The payload is a well-formed order with a business rule broken (``amount`` <= 0...)."""

    label = "ValidationException"


class MalformedPayload(PermanentError):
    """The payload is not an order at all: empty, not UTF-8, not JSON, or not a JSON object."""

    label = "MalformedPayloadException"


class AuthorizationFailed(PermanentError):
    """We are not allowed to do this; asking again will not change the answer."""

    label = "AuthorizationException"


class MaxRetriesExceeded(PermanentError):
    """A transient error outlived the retry policy: ``attempts`` retries were made, all failed.

    ``attempts`` is what the DLT envelope reports as ``retryCount``. ``last_error`` is also set
    as ``__cause__`` so the DLT stack trace shows it even when the caller forgets ``from``.
    """

    label = "MaxRetriesExceededException"

    def __init__(self, attempts: int, last_error: BaseException | None = None) -> None:
        self.attempts = attempts
        self.last_error = last_error
        message = f"gave up after {attempts} retries"
        if last_error is not None:
            message += f" (last error: {describe(last_error)})"
            self.__cause__ = last_error
        super().__init__(message)

    def __reduce__(self):  # keep pickling working (events may cross process boundaries)
        return (type(self), (self.attempts, self.last_error))


# --- classification ----------------------------------------------------------------------------


def _cls(exc: BaseException | type[BaseException]) -> type[BaseException]:
    return exc if isinstance(exc, type) else type(exc)


def classify(exc: BaseException | type[BaseException]) -> Classification:
    """``"transient"`` if a retry may succeed, else ``"permanent"``. Accepts an instance or a class.

    1. Anything carrying a boolean ``retriable`` attribute is taken at its word: ours, and every
       ``kafka.errors.KafkaError`` (``KafkaTimeoutError``, ``NotLeaderForPartitionError`` are
       retriable; ``TopicAuthorizationFailedError`` is not).
    2. Python's ``TimeoutError`` and ``ConnectionError`` (and their subclasses) are transient.
    3. **Any other exception is permanent.** An unknown exception is most likely a bug (a
       ``KeyError``, a ``TypeError``...). Retrying a bug only delays it and hides it behind
       backoff; sent to the DLT at once, with its stack trace, it is visible and can be replayed
       after the fix. Never retry on everything by default: stamina's ``on=`` has no default and
       Spring keeps a list of fatal exceptions for the same reason.
    """
    retriable = getattr(exc, "retriable", None)
    if isinstance(retriable, bool):
        return "transient" if retriable else "permanent"
    if issubclass(_cls(exc), (TimeoutError, ConnectionError)):
        return "transient"
    return "permanent"


def error_label(exc: BaseException | type[BaseException]) -> str:
    """The name shown in the DLT: our Java-style ``label``, else the exception's class name."""
    label = getattr(_cls(exc), "label", None)
    return label if isinstance(label, str) and label else _cls(exc).__name__


def error_message(exc: BaseException) -> str:
    """The exception's message, without the ``ClassName: `` prefix kafka-python's errors add."""
    message = str(exc)
    prefix = f"{type(exc).__name__}: "
    return message[len(prefix) :] if message.startswith(prefix) else message


def describe(exc: BaseException) -> str:
    """``"<label>: <message>"`` as in the module's DLT ``errorMessage``.

    >>> describe(ValidationError("Invalid amount -50"))
    'ValidationException: Invalid amount -50'
    """
    message = error_message(exc)
    label = error_label(exc)
    return f"{label}: {message}" if message else label


def fqcn(exc: BaseException | type[BaseException]) -> str:
    """Fully qualified class name (``labkit.errors.ValidationError``), for ``kafka_dlt-exception-fqcn``."""
    cls = _cls(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


# --- the one line a student reads -------------------------------------------------------------

START_A_BROKER = "start one with: labkit broker up"


def no_broker(address: str | None = None, why: str | None = None) -> str:
    """The course's one sentence for "nothing answers at the Kafka address", and what to do.

    >>> no_broker("127.0.0.1:9092", "refused")
    'no Kafka broker answers at 127.0.0.1:9092 (refused); start one with: labkit broker up'
    """
    at = f" at {address}" if address else ""
    because = f" ({why})" if why else ""
    return f"no Kafka broker answers{at}{because}; {START_A_BROKER}"


def friendly(exc: BaseException) -> str:
    """Any exception as the one line the CLI and the API print instead of a traceback.

    >>> friendly(ValueError("bad amount\\nmore detail"))
    'ValueError: bad amount'
    """
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError  # kafka-python only when it is needed

    if isinstance(exc, (KafkaTimeoutError, KafkaConnectionError)):
        return no_broker(why=type(exc).__name__)
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text.startswith(f"{name}:"):
        return text
    return f"{name}: {text}" if text else name
