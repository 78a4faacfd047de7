"""A control panel for the failing "order service" of Lab 3: switch transient errors on and off, set
the failure rate and the fail-first count, and watch what the service and the consumer did.

A thin view over a plain model (the jupyter-widgets tutorial's ``model.py`` + ``gui.py``)::

    widgets (toggle, sliders) --traitlets.link--> FailureSwitches --the switch touched--> FailureInjector
                                                  (enabled, rate,   <--every change----- (or ApiService.switch)
                                                   fail_first)       (whoever made it: a curl, code, a widget)

The switches act on a live :class:`~labkit.engine.injection.FailureInjector`, on the in-process service
of the order API (:class:`~labkit.api.service.ApiService`, or an :class:`~labkit.api.server.ApiServer`).
The panel is a true view of that service: it subscribes to the injector, so a ``curl
…/simulate-transient-error?enabled=false`` (or a line of code) moves the toggle and the sliders at once,
and a widget the student moves sends that one switch, never the others (a slider moved after the
``curl`` does not switch the errors back on). Showing a change is never sent back: the widgets are
updated under a guard (per thread), and a value the service already has is not sent again.

Everything works without a front end: build the panel, call :meth:`FailurePanel.set` and
:meth:`FailurePanel.stats` from code (that is how nbval runs notebook 05); displaying it with no
front end shows a one-line summary.

    >>> from labkit.engine.injection import FailureInjector
    >>> service = FailureInjector()
    >>> panel = FailurePanel(service, live=False)
    >>> panel.set(enabled=True, rate=0.3)["rate"]
    0.3
    >>> service.snapshot()["transient"], panel.rate.value
    (True, 0.3)
    >>> panel.close()

Introduced in notebook 05 (Lab 3, retries).
"""

from __future__ import annotations

import html
import threading
import time
import weakref
from typing import Any

import ipywidgets as w
import traitlets
from traitlets import Bool, Float, HasTraits, Int

from labkit.lang import tr

__all__ = ["FailureSwitches", "FailurePanel"]

SWITCHES = ("enabled", "rate", "fail_first")
INJECTOR_NAME = {"enabled": "transient", "rate": "rate", "fail_first": "fail_first"}  # panel -> injector


class FailureSwitches(HasTraits):
    """The panel's model: the three switches of the order service, as traits (no Kafka, no widgets).

    ``enabled``: the service fails with a transient error, with probability ``rate`` per call;
    ``fail_first``: the first N calls for each order fail, whatever ``enabled`` says.
    """

    enabled = Bool(False)
    rate = Float(1.0, min=0.0, max=1.0)
    fail_first = Int(0, min=0)


def _resolve(target: Any) -> tuple[Any, Any, Any]:
    """``(injector, service, events)`` for a FailureInjector, an ApiService or an ApiServer."""
    service = getattr(target, "service", None) if not hasattr(target, "set_config") else target
    if service is not None and hasattr(service, "set_config"):
        return service.injector, service, getattr(service, "events", None)
    if hasattr(target, "snapshot") and hasattr(target, "set"):
        return target, None, None
    raise TypeError("expected a FailureInjector, an ApiService or an ApiServer, "
                    f"got {type(target).__name__}")


# the open panel of each failure injector: a panel cell run again closes the first panel, which
# would otherwise stay subscribed to the events and keep refreshing (weak: a dropped panel is gone)
_PANELS: weakref.WeakValueDictionary[int, FailurePanel] = weakref.WeakValueDictionary()


class FailurePanel:
    """The failure-injection panel. ``target``: a FailureInjector, an ApiService or an ApiServer;
    ``events``: an :class:`~labkit.events.EventLog` for the consumer figures (default: the
    service's); ``live``: refresh the figures as events arrive (at most every ``refresh_s``).

    ``panel.set(enabled=True, rate=0.3, fail_first=0)`` switches from code, ``panel.stats()``
    returns the figures shown, ``panel.refresh()`` re-reads the service (after a ``curl``), and
    ``panel.close()`` stops the live refresh.
    """

    def __init__(self, target: Any, events: Any = None, *, live: bool = True, refresh_s: float = 0.3,
                 max_fail_first: int = 10) -> None:
        self.injector, self.service, service_events = _resolve(target)
        # where a curl reaches the same switches: an ApiServer knows its address (port 0 picks a free one)
        self.url = str(getattr(target, "url", "") or "")
        self.events = events if events is not None else service_events
        self.refresh_s = refresh_s
        self.switches = FailureSwitches()
        self._showing = threading.local()  # .on: this thread is showing the service's state, do not send it back
        self._show_lock = threading.Lock()  # one thread at a time moves the widgets to the service's state
        self._timer: threading.Timer | None = None
        self._timer_lock = threading.Lock()
        self._last_refresh = 0.0
        self._unsubscribe = None
        self._unfollow = None

        self.enabled = w.ToggleButton(description=tr("transient errors"), icon="bolt",
                                      tooltip="simulate-transient-error",
                                      layout=w.Layout(width="180px"))
        self.rate = w.FloatSlider(description=tr("failure rate"), min=0.0, max=1.0, step=0.05,
                                  readout_format=".0%",
                                  continuous_update=False, style={"description_width": "90px"})
        self.fail_first = w.IntSlider(description=tr("fail first"), min=0, max=max_fail_first, step=1,
                                      continuous_update=False, style={"description_width": "90px"})
        self.refresh_button = w.Button(description=tr("refresh"), icon="refresh", layout=w.Layout(width="100px"))
        self.figures = w.HTML()
        for widget, name in ((self.enabled, "enabled"), (self.rate, "rate"), (self.fail_first, "fail_first")):
            traitlets.link((widget, "value"), (self.switches, name))
        self.enabled.observe(self._paint_toggle, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.view = w.VBox([
            w.HTML(f"<b>{html.escape(tr('Order service: failure injection'))}</b> "
                   f"<span style='color:gray'>(= POST {html.escape(self.url)}/api/v1/config/simulate-transient-error)"
                   "</span>"),
            w.HBox([self.enabled, self.refresh_button]),
            self.rate,
            self.fail_first,
            self.figures,
        ])
        self.refresh()  # start from what the service does now
        self.switches.observe(self._on_switch, names=list(SWITCHES))
        self._unfollow = self.injector.subscribe(self._on_service_change)  # every change, whoever made it
        if live and self.events is not None and hasattr(self.events, "subscribe"):
            self._unsubscribe = self.events.subscribe(self._on_event)
        previous = _PANELS.get(id(self.injector))
        if previous is not None and previous is not self:
            previous.close()
        _PANELS[id(self.injector)] = self

    # --- model -> service ---------------------------------------------------------------------

    def _on_switch(self, change: Any) -> None:
        """A widget moved: send that one switch, unless the panel is only showing the service's state."""
        if getattr(self._showing, "on", False):
            return
        name, value = change["name"], change["new"]
        if self.injector.snapshot()[INJECTOR_NAME[name]] == value:
            return  # the service already does this: nothing to send
        self._send({name: value})

    def _send(self, switches: dict[str, Any]) -> None:
        """Send these switches, and only these, to the service (one call)."""
        changes = {INJECTOR_NAME[name]: value for name, value in switches.items()}
        if self.service is not None and hasattr(self.service, "switch"):
            self.service.switch(**changes)  # logged like the endpoint's
        else:
            self.injector.set(**changes)
        self._paint_figures()

    def set(self, **switches: Any) -> dict[str, Any]:
        """Change some switches (``enabled``, ``rate``, ``fail_first``) at once, as a student moving
        the widgets would; the service gets these, and only these, in one call. Returns :meth:`stats`."""
        unknown = set(switches) - set(SWITCHES)
        if unknown:
            raise TypeError(f"unknown switch(es) {sorted(unknown)}; known: {', '.join(SWITCHES)}")
        self._showing.on = True  # the widgets move first; the one call below sends them together
        try:
            with self.switches.hold_trait_notifications():  # validates every value before any is set
                for name, value in switches.items():
                    setattr(self.switches, name, value)
        finally:
            self._showing.on = False
        if switches:
            self._send(switches)
        return self.stats()

    # --- service -> model and figures ----------------------------------------------------------

    def refresh(self) -> dict[str, Any]:
        """Re-read the service's switches and the figures (the panel also follows every change by
        itself: this is for a panel built before a change it could not hear of)."""
        self._show(self.injector.snapshot())
        self._paint_figures()
        return self.stats()

    def _on_service_change(self, snapshot: dict[str, Any]) -> None:
        """The injector changed (a curl on the API's thread, code, this panel): show it."""
        self._show(self.injector.snapshot())  # re-read: a notification may arrive after a newer change
        self._paint_toggle()

    def _show(self, snap: dict[str, Any]) -> None:
        """Move the widgets to the service's switches without sending anything back."""
        with self._show_lock:
            self._showing.on = True
            try:
                fail_first = int(snap["fail_first"])
                if fail_first > self.fail_first.max:  # a curl asked for more than the slider shows
                    self.fail_first.max = fail_first
                with self.switches.hold_trait_notifications():
                    self.switches.enabled = bool(snap["transient"])
                    self.switches.rate = float(snap["rate"])
                    self.switches.fail_first = fail_first
            finally:
                self._showing.on = False

    def stats(self) -> dict[str, Any]:
        """What the panel shows: the switches, the service's calls and failures, and the consumer's
        figures (processed, retries, DLT, in flight) from the event log."""
        snap = self.injector.snapshot()
        out: dict[str, Any] = {"enabled": snap["transient"], "rate": snap["rate"],
                               "fail_first": snap["fail_first"], "service_calls": snap["calls"],
                               "service_failures": snap["failures"]}
        if self.events is not None:
            s = self.events.stats()
            out.update(processed=s["processed"], retries=s["retries"], dlt=s["dlt"], in_flight=s["in_flight"])
        return out

    def summary(self) -> str:
        """One line: the switches and the figures (the panel's text form, e.g. with no front end)."""
        s = self.stats()
        state = tr("ON at {rate:.0%}").format(rate=s["rate"]) if s["enabled"] else tr("OFF")
        line = tr("transient errors {state}, fail first {fail_first} · service: {calls} calls, {failed} failed").format(
            state=state, fail_first=s["fail_first"], calls=s["service_calls"], failed=s["service_failures"])
        if "processed" in s:
            line += tr(" · consumer: {processed} processed, {retries} retries, {dlt} to DLT, {in_flight} in flight"
                       ).format(processed=s["processed"], retries=s["retries"], dlt=s["dlt"], in_flight=s["in_flight"])
        return line

    def _paint_toggle(self, change: Any = None) -> None:
        on = self.enabled.value
        self.enabled.button_style = "danger" if on else ""
        self.enabled.description = tr("transient errors ON") if on else tr("transient errors off")

    def _paint_figures(self) -> None:
        self._last_refresh = time.monotonic()
        s = self.stats()
        cells = [(tr("service calls"), s["service_calls"]), (tr("failed"), s["service_failures"])]
        if "processed" in s:
            cells += [(tr("processed"), s["processed"]), (tr("retries"), s["retries"]), (tr("to DLT"), s["dlt"]),
                      (tr("in flight"), s["in_flight"])]
        head = "".join(f"<th style='padding:2px 10px'>{html.escape(k)}</th>" for k, _ in cells)
        body = "".join(f"<td style='padding:2px 10px;text-align:center'>{v}</td>" for _, v in cells)
        self.figures.value = f"<table><tr>{head}</tr><tr>{body}</tr></table>"
        self._paint_toggle()

    def _on_event(self, event: Any) -> None:
        """Called on the consumer's thread for every event: repaint at most every ``refresh_s``, and
        once more after the last event of a burst."""
        if time.monotonic() - self._last_refresh >= self.refresh_s:
            self._paint_figures()
            return
        with self._timer_lock:
            if self._timer is None or not self._timer.is_alive():
                self._timer = threading.Timer(self.refresh_s, self._paint_figures)
                self._timer.daemon = True
                self._timer.start()

    # --- display and life cycle ---------------------------------------------------------------

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = self.view._repr_mimebundle_(**kwargs) or {}
        bundle["text/plain"] = self.summary()
        return bundle

    def __repr__(self) -> str:
        return f"FailurePanel({self.summary()})"

    def close(self) -> None:
        """Stop following the service and the live refresh, and close the widgets (the service keeps
        its switches)."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        _close(self.view)


def _close(widget: Any) -> None:
    for child in getattr(widget, "children", ()):
        _close(child)
    widget.close()
