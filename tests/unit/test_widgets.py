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
