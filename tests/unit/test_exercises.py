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


def test_the_reference_fix_passes_and_a_fix_that_repairs_everything_is_named(capsys):
    from types import SimpleNamespace

    from labkit.notebook.exercises import check_fix

    def entry(key, raw):
        return SimpleNamespace(key_text=key, envelope=SimpleNamespace(raw_value=raw))

    entries = [entry("ORD-TEXT-1", '{"orderId":"ORD-TEXT-1","amount":"120.50","status":"PENDING"}'),
               entry("ORD-NEG-1", '{"orderId":"ORD-NEG-1","amount":-50,"status":"PENDING"}'),
               entry("ORD-POISON-1", b"\xff\xfe not even text")]
    namespace: dict = {}
    exec((SOLUTIONS / "08_dlt_reprocessor.py").read_text(), namespace)
    assert check_fix(namespace["reference_fix"], entries, fixable={"ORD-TEXT-1"}) is True
    capsys.readouterr()
    assert check_fix(lambda e: {"orderId": e.key_text, "amount": 1, "status": "PENDING"}, entries,
                     fixable={"ORD-TEXT-1"}) is False
    assert "❌ ORD-NEG-1: want None (no code can fix it)" in capsys.readouterr().out


def test_a_your_turn_cell_left_empty_is_told_what_to_do(capsys):
    from labkit.notebook.exercises import check_dead_lettered, check_order_processed
    from labkit.settings import Settings

    assert check_order_processed(Settings(), events=None, order_id=None) is False
    assert check_dead_lettered(Settings(), order_id=None) is False
    assert capsys.readouterr().out.count("❌ set my_order_id to the orderId you posted") == 2


def test_the_group_checker_answers_at_once_when_the_instances_are_not_there(capsys):
    from types import SimpleNamespace

    from labkit.notebook.exercises import check_group_shares
    from labkit.settings import Settings

    nowhere = Settings(bootstrap_servers="127.0.0.1:1")  # asking this broker would raise: it is not asked
    assert check_group_shares(nowhere, SimpleNamespace(names=["consumer-1"]), members=3) is False
    assert "1 instance(s) running (consumer-1): want 3" in capsys.readouterr().out
