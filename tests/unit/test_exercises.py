"""The checkers of the notebooks' *your turn* cells: the reference solutions pass, wrong answers are named."""

from __future__ import annotations

from pathlib import Path

from labkit import errors
from labkit.notebook.exercises import check_retry_loop

SOLUTIONS = Path(__file__).resolve().parents[2] / "notebooks" / "solutions"


def test_the_reference_retry_loop_passes(capsys):
    namespace = {"errors": errors, "MAX_RETRIES": 5}
    exec((SOLUTIONS / "05_retry_loop.py").read_text(), namespace)
    assert check_retry_loop(namespace["reference_process_with_error_handling"]) is True
    assert capsys.readouterr().out.count("✅") == 3


def test_a_loop_that_raises_or_never_dead_letters_is_named_not_raised(capsys):
    def raises(records, process_record, send_to_dlt, sleep_with_backoff):
        raise NameError("name 'retry_count' is not defined")

    def swallows(records, process_record, send_to_dlt, sleep_with_backoff):
        for record in records:
            try:
                process_record(record)
            except errors.LabkitError:
                pass  # every error forgotten: nothing reaches the DLT

    assert check_retry_loop(raises) is False
    assert "your function raised NameError" in capsys.readouterr().out
    assert check_retry_loop(swallows) is False
    out = capsys.readouterr().out
    assert "DLT nothing (want ['MaxRetriesExceeded'])" in out and "DLT nothing (want ['ValidationError'])" in out
