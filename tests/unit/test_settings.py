"""Settings from the environment: the student's namespace on a shared machine."""

from __future__ import annotations

import pytest

from labkit.settings import SettingsError, load, student_from_env


def test_the_student_comes_from_labkit_student_then_jupyterhub():
    assert student_from_env({}) == ""
    assert student_from_env({"JUPYTERHUB_USER": "Jean.Dupont"}) == "jean-dupont"
    assert student_from_env({"LABKIT_STUDENT": "alice", "JUPYTERHUB_USER": "hubuser"}) == "alice"
    assert student_from_env({"LABKIT_STUDENT": "  "}) == ""


@pytest.mark.parametrize("raw", ["...", "x" * 41])
def test_a_name_that_cannot_prefix_a_topic_is_one_clear_error(raw):
    with pytest.raises(SettingsError, match="LABKIT_STUDENT"):
        student_from_env({"LABKIT_STUDENT": raw})


def test_load_puts_every_name_in_the_namespace_and_explicit_names_win(monkeypatch):
    monkeypatch.setenv("LABKIT_STUDENT", "alice")
    s = load()
    assert (s.student, s.orders_topic, s.dlt_topic, s.retry_topic, s.events_topic, s.group_id) == (
        "alice", "alice.orders", "alice.orders.DLT", "alice.orders.retry", "alice.labkit.events",
        "alice.orders-consumer-group")
    assert set(s.topics) == {"alice.orders", "alice.orders.DLT", "alice.orders.retry"}
    assert load(group_id="mine").group_id == "mine"
    assert load(student="").orders_topic == "orders"
    monkeypatch.delenv("LABKIT_STUDENT")
    assert load().orders_topic == "orders" and load().student == ""
