"""The stack trace a DLT record carries (``stackTrace`` in the envelope, ``kafka_dlt-exception-stacktrace``
in the headers): the failure's Python traceback as text, written cheaply enough for every dead-lettered
record."""

from __future__ import annotations

import traceback

__all__ = ["format_stacktrace"]

_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def format_stacktrace(exc: BaseException) -> str:
    """The full Python traceback of ``exc``, causes and contexts included, as text: what
    ``traceback.format_exception`` prints, without its ``^^^`` underlines.

    Why not that function: it re-checks every source file of the stack (``linecache.checkcache``, a
    ``stat`` per file) for every DLT record, and each syscall lets the consumer's other threads take
    the GIL; measured, that was a quarter of a dead-lettered record's cost. Lines come from the
    cache, read once."""
    chain: list[tuple[BaseException, str]] = []  # newest first, each with what links it to the next
    seen: set[int] = set()
    link, current = "", exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append((current, link))
        if current.__cause__ is not None:
            link, current = _CAUSE, current.__cause__
        elif current.__context__ is not None and not current.__suppress_context__:
            link, current = _CONTEXT, current.__context__
        else:
            current = None
    parts: list[str] = []
    for error, link in reversed(chain):
        if error.__traceback__ is not None:
            frames = [traceback.FrameSummary(frame.f_code.co_filename, lineno, frame.f_code.co_name)
                      for frame, lineno in traceback.walk_tb(error.__traceback__)]
            parts.append("Traceback (most recent call last):\n")
            parts.extend(traceback.StackSummary.from_list(frames).format())
        parts.append(_exception_line(error))
        parts.append(link)
    return "".join(parts)


def _exception_line(error: BaseException) -> str:
    """``ValueError: bad amount``, as ``traceback.format_exception_only`` writes it (which would
    extract the stacks of the whole chain again), notes included."""
    if isinstance(error, SyntaxError):  # its own layout (the offending line, a caret): rare here
        return "".join(traceback.format_exception_only(type(error), error.with_traceback(None)))
    cls = type(error)
    name = cls.__qualname__ if cls.__module__ in ("builtins", "__main__") else f"{cls.__module__}.{cls.__qualname__}"
    try:
        text = str(error)
    except Exception:  # noqa: BLE001 - what traceback prints then
        text = "<exception str() failed>"
    notes = getattr(error, "__notes__", None)
    tail = "".join(f"{note}\n" for note in notes) if isinstance(notes, (list, tuple)) else ""
    return (f"{name}: {text}\n" if text else f"{name}\n") + tail
