"""The DLT envelope's stack trace: Python's own traceback text, causes included, written without
re-reading the source files' metadata for every DLT record."""

from __future__ import annotations

import os
import traceback

from labkit.dlt.stacktrace import format_stacktrace


def _chained() -> BaseException:
    def inner() -> None:
        raise ValueError("amount is not a number")

    try:
        try:
            inner()
        except ValueError as exc:
            raise RuntimeError("order service refused it") from exc
    except RuntimeError:
        try:
            raise KeyError("orderId")  # raised while handling: its context, not its cause
        except KeyError as err:
            return err
    raise AssertionError("unreachable")


def _no_carets(text: str) -> list[str]:
    """Python 3.11 underlines the failing expression (``^^^^``); the envelope does not."""
    return [line for line in text.splitlines() if set(line.strip()) - {"^", "~"}]


def test_the_text_is_pythons_own_with_its_causes_and_contexts():
    exc = _chained()
    ours = format_stacktrace(exc)
    assert _no_carets(ours) == _no_carets("".join(traceback.format_exception(exc)))
    assert "The above exception was the direct cause" in ours and "During handling of the above" in ours
    assert ours.rstrip().endswith("KeyError: 'orderId'")


def test_an_exception_never_raised_has_its_type_and_message_only():
    assert format_stacktrace(ValueError("bad amount")) == "ValueError: bad amount\n"


def test_the_last_line_names_the_module_and_keeps_notes_as_python_does():
    from labkit.errors import ServiceUnavailable

    errors = [ServiceUnavailable("order service down"), KeyError(), ValueError("")]
    errors[0].add_note("retry 3 of 3")
    for error in errors:
        assert format_stacktrace(error) == "".join(traceback.format_exception_only(type(error), error))


def test_no_stat_of_the_source_files_per_record(monkeypatch):
    """``traceback.format_exception`` stats every file of the stack (``linecache.checkcache``): one
    syscall per frame per DLT record, each a point where a busy consumer's other threads take the GIL."""
    exc = _chained()
    format_stacktrace(exc)  # the first one reads the files into the cache
    stats = []
    real = os.stat
    monkeypatch.setattr(os, "stat", lambda *a, **k: stats.append(a) or real(*a, **k))
    format_stacktrace(exc)
    assert stats == []
