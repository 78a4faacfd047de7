"""What a group's assignment should look like, as a notebook waits for it: each member's partitions
(``Assignment``) matched against the expected shares, and the shares as text. The classic group
(:mod:`labkit.group.supervisor`) and the KIP-848 one (:mod:`labkit.group.kip848`) wait the same way."""

from __future__ import annotations

from typing import Any

__all__ = ["Assignment", "shares_text", "assignment_matches"]

Assignment = dict[str, tuple[tuple[str, int], ...]]


def shares_text(expected: Any) -> str:
    """``[3, 3]`` -> ``"3 / 3"``; ``{"consumer-1": 6}`` -> ``"consumer-1: 6"``; a predicate -> its meaning unknown."""
    if callable(expected):
        return "expected"
    if isinstance(expected, dict):
        return ", ".join(f"{name}: {n}" for name, n in expected.items())
    return " / ".join(str(n) for n in expected)


def assignment_matches(live: Assignment, expected: Any, total: int) -> bool:
    """Do the live members' partitions of one topic (``live``) look like ``expected``, with every one of
    its ``total`` partitions owned exactly once? ``expected``: sizes in any order (``[2, 2, 2]``),
    ``{name: size}``, or a predicate over ``live``."""
    if callable(expected):
        return bool(expected(live))
    owned = [tp for p in live.values() for tp in p]
    if not len(owned) == total == len(set(owned)):
        return False
    if isinstance(expected, dict):
        return {c: len(p) for c, p in live.items() if p or c in expected} == dict(expected)
    return sorted(len(p) for p in live.values()) == sorted(expected)
