"""Checks shared by the wait and stop strategies: their numbers (delays, caps, counts) are never negative."""

from __future__ import annotations

from dataclasses import fields

__all__ = ["NonNegative", "require_at_least"]


def require_at_least(name: str, value: float, minimum: float = 0.0) -> None:
    if not value >= minimum:  # also rejects NaN
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")


class NonNegative:
    """Dataclass mixin: every numeric field (delays, caps, counts) must be >= 0."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                require_at_least(f.name, value)
