"""Turn any exception into the one line a student should read (the CLI and the API use it)."""

from __future__ import annotations

from kafka.errors import KafkaConnectionError, KafkaTimeoutError


def friendly(exc: BaseException) -> str:
    if isinstance(exc, (KafkaTimeoutError, KafkaConnectionError)):
        return f"no Kafka broker answers ({type(exc).__name__}); start one with: labkit broker up"
    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if text.startswith(f"{name}:"):
        return text
    return f"{name}: {text}" if text else name
