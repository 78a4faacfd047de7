"""The failure-injection panel of notebook 05, headless: no front end, no broker."""

from __future__ import annotations

import time

import pytest
from traitlets import TraitError

from labkit.api.service import ApiService
from labkit.engine.injection import FailureInjector
from labkit.errors import ServiceUnavailable
from labkit.events import EventLog, Processed, RetryScheduled
from labkit.notebook.widgets import FailurePanel, FailureSwitches
from labkit.settings import Settings


@pytest.fixture
def injector():
    return FailureInjector()


@pytest.fixture
def panel(injector):
    p = FailurePanel(injector, EventLog(), refresh_s=0.05)
    yield p
    p.close()


def test_set_switches_the_live_service_and_moves_the_widgets(panel, injector):
    stats = panel.set(enabled=True, rate=0.3, fail_first=2)
    snap = injector.snapshot()
    assert (snap["transient"], snap["rate"], snap["fail_first"]) == (True, 0.3, 2)
    assert (panel.enabled.value, panel.rate.value, panel.fail_first.value) == (True, 0.3, 2)
    assert stats["enabled"] is True and stats["rate"] == 0.3
    assert "ON" in panel.enabled.description and panel.enabled.button_style == "danger"
    panel.set(enabled=False)
    assert injector.snapshot()["transient"] is False and "off" in panel.enabled.description


def test_moving_a_widget_is_what_a_student_does(panel, injector):
    panel.rate.value = 0.25
    panel.enabled.value = True
    assert injector.snapshot()["transient"] is True and injector.snapshot()["rate"] == 0.25
    panel.rate.value = 1.0
    with pytest.raises(ServiceUnavailable):
        injector.call("ORD-1")


def test_bad_values_are_refused_and_change_nothing(panel, injector):
    with pytest.raises(TypeError):
        panel.set(latency=3)
    with pytest.raises(TraitError):
        panel.set(enabled=True, rate=1.5)
    assert injector.snapshot()["transient"] is False and panel.rate.value == 1.0


def test_refresh_reads_what_a_curl_changed(panel, injector):
    injector.set(transient=True, rate=0.4, fail_first=1)  # e.g. curl .../simulate-transient-error
    panel.refresh()
    assert (panel.enabled.value, panel.rate.value, panel.fail_first.value) == (True, 0.4, 1)
    assert injector.snapshot()["calls"] == 0  # refreshing never calls the service


def test_figures_follow_the_event_log_live(injector):
    events = EventLog()
    p = FailurePanel(injector, events, refresh_s=0.05)
    try:
        events.append(RetryScheduled(key="ORD-1", attempt=1))
        events.append(Processed(key="ORD-1", order_id="ORD-1", attempt=1))
        deadline = time.monotonic() + 5
        while "<td style='padding:2px 10px;text-align:center'>1</td>" not in p.figures.value:
            assert time.monotonic() < deadline, p.figures.value
            time.sleep(0.02)
        assert p.stats()["processed"] == 1 and p.stats()["retries"] == 1
    finally:
        p.close()
    events.append(Processed(key="ORD-2", order_id="ORD-2"))  # closed: no subscriber left
    assert not events._subscribers  # the panel unsubscribed when closed


def test_display_without_a_front_end(panel):
    from IPython.display import display

    display(panel)  # no kernel, no front end: prints the summary, never raises
    bundle = panel._repr_mimebundle_()
    assert bundle["text/plain"].startswith("transient errors OFF")
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "FailurePanel(" in repr(panel)


def test_the_api_service_is_switched_like_the_http_endpoint():
    service = ApiService(Settings(), consume=False)
    try:
        p = FailurePanel(service, live=False)
        p.set(enabled=True, rate=0.5)
        assert service.config()["simulateTransientError"] is True and service.config()["rate"] == 0.5
        service.set_config(False, None, None, None)  # what `curl ...?enabled=false` does
        assert p.refresh()["enabled"] is False and p.enabled.value is False
        assert p.events is service.events
        p.close()
    finally:
        service.stop()


def test_an_api_server_is_accepted_through_its_service():
    service = ApiService(Settings(), consume=False)

    class Server:  # what ApiServer exposes
        pass

    server = Server()
    server.service = service
    try:
        p = FailurePanel(server, live=False)
        assert p.service is service and p.injector is service.injector
        p.close()
    finally:
        service.stop()
    with pytest.raises(TypeError):
        FailurePanel(object())


def test_the_model_alone_validates():
    switches = FailureSwitches()
    with pytest.raises(TraitError):
        switches.fail_first = -1
    assert (switches.enabled, switches.rate, switches.fail_first) == (False, 1.0, 0)


def test_a_panel_cell_run_again_closes_the_first_panel():
    injector, events = FailureInjector(), EventLog()
    first = FailurePanel(injector, events)
    second = FailurePanel(injector, events)
    assert first._unsubscribe is None and second._unsubscribe is not None
    assert len(events._subscribers) == 1  # only the second panel still refreshes
    second.close()
    assert len(events._subscribers) == 0


# --- the panel is a true view of the service (issue 22) ----------------------------------------------


def _switches(snapshot):
    return {k: snapshot[k] for k in ("transient", "rate", "fail_first", "latency_s", "error", "targets")}


def test_a_change_made_on_the_injector_shows_on_the_widgets_without_a_refresh(panel, injector):
    injector.set(transient=True, rate=0.4, fail_first=2)  # what the curl endpoint does, behind the panel's back
    assert (panel.enabled.value, panel.rate.value, panel.fail_first.value) == (True, 0.4, 2)
    assert "ON" in panel.enabled.description
    injector.set(transient=False)  # curl ...?enabled=false
    assert panel.enabled.value is False and "off" in panel.enabled.description


def test_a_curl_from_another_thread_shows_on_the_widgets():
    import threading

    service = ApiService(Settings(), consume=False)
    try:
        p = FailurePanel(service, live=False)
        service.set_config(True, None, None, None)  # 5.1: curl ...?enabled=true
        assert p.enabled.value is True
        curl = threading.Thread(target=service.set_config, args=(False, None, None, None))  # 5.4, an API thread
        curl.start()
        curl.join()
        assert p.enabled.value is False and p.stats()["enabled"] is False
        p.close()
    finally:
        service.stop()


def test_showing_a_change_never_sends_it_back(panel, injector):
    seen = []
    injector.subscribe(seen.append)
    injector.set(transient=True, rate=0.4, fail_first=3)
    assert len(seen) == 1  # the panel followed, and wrote nothing back (no feedback loop)
    panel.rate.value = 0.6  # a student's move: one change, not an echo per widget
    assert len(seen) == 2 and seen[-1]["rate"] == 0.6


def test_moving_one_slider_changes_only_that_switch_and_does_not_re_enable_errors():
    service = ApiService(Settings(), consume=False)
    try:
        p = FailurePanel(service, live=False)
        p.fail_first.value = 2  # the student moved the fail-first slider...
        service.set_config(True, None, None, None)  # 5.1 curl ...?enabled=true
        service.set_config(False, None, None, None)  # 5.4 curl ...?enabled=false
        before = _switches(service.injector.snapshot())
        assert before["transient"] is False and p.enabled.value is False  # the toggle follows the curl
        p.rate.value = 0.5  # ...and now moves the rate slider
        after = _switches(service.injector.snapshot())
        assert after["transient"] is False, "moving a slider switched the errors back on"
        assert {k for k in after if after[k] != before[k]} == {"rate"} and after["rate"] == 0.5
        p.fail_first.value = 1
        assert _switches(service.injector.snapshot()) == after | {"fail_first": 1}
        p.enabled.value = True  # the toggle sends the toggle only: the rate the slider shows stays
        assert _switches(service.injector.snapshot()) == after | {"fail_first": 1, "transient": True}
        p.close()
    finally:
        service.stop()


def test_the_modules_enabled_true_after_a_slider_at_50_percent_fails_every_call():
    service = ApiService(Settings(), consume=False)
    try:
        p = FailurePanel(service, live=False)
        p.rate.value = 0.5  # the slider 05 invites the student to move
        p.enabled.value = True
        p.set(enabled=False)
        service.set_config(True, None, None, None)  # the module's 5.1: every call fails until switched off
        assert service.config()["rate"] == 1.0 and p.rate.value == 1.0
        for _ in range(50):
            with pytest.raises(ServiceUnavailable):
                service.injector.call("ORD-RETRY")
        service.set_config(False, None, None, None)  # 5.4
        service.injector.call("ORD-RETRY")  # the next retry succeeds
        p.close()
    finally:
        service.stop()


def test_a_rate_given_with_enabled_true_is_kept():
    service = ApiService(Settings(), consume=False)
    try:
        assert service.set_config(True, 0.3, None, None)["rate"] == 0.3  # curl ...?enabled=true&rate=0.3
        assert service.set_config(False, None, None, None)["rate"] == 0.3  # off keeps what it does not switch
    finally:
        service.stop()


def test_a_slider_beyond_its_range_widens_instead_of_writing_back(panel, injector):
    injector.set(fail_first=25)  # curl ...&failFirst=25: more than the slider's max
    assert panel.fail_first.value == 25 and panel.fail_first.max >= 25
    assert injector.snapshot()["fail_first"] == 25


def test_a_closed_panel_stops_following_the_service(injector):
    first = FailurePanel(injector, live=False)
    second = FailurePanel(injector, live=False)  # the cell run again: the first panel is closed
    assert len(injector.subscribers) == 1
    injector.set(rate=0.2)
    assert second.rate.value == 0.2
    second.close()
    assert len(injector.subscribers) == 0
    first.close()
