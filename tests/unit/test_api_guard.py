"""Cross-site safety of the order API, without a broker: a web page open in the student's browser
cannot post orders or switch failure injection (Origin, Host, Content-Type), the body limit holds
while reading, and the injected latency stays under the consumer's poll budget.

The app runs in-process (httpx's ASGI transport) with a fake producer that records what was sent."""

from __future__ import annotations

import asyncio
import json
import logging
from types import SimpleNamespace

import httpx
import pytest

from labkit.api.app import create_app
from labkit.api.validation import MAX_BODY_BYTES
from labkit.settings import Settings

ORDER = b'{"orderId": "ORD-1", "amount": 100, "status": "PENDING"}'
SWITCH = "/api/v1/config/simulate-transient-error"


class FakeProducer:
    def __init__(self):
        self.sent: list[tuple[str, bytes, bytes]] = []

    def send(self, topic, key=None, value=None):
        self.sent.append((topic, key, value))
        md = SimpleNamespace(topic=topic, partition=0, offset=len(self.sent) - 1, timestamp=0)
        return SimpleNamespace(get=lambda timeout=None: md)

    def close(self, *args, **kwargs):
        pass


def make_app(**kwargs):
    producer = FakeProducer()
    app = create_app(Settings(), consume=False, producer=producer, **kwargs)
    return app, producer


def call(app, method, path, *, host="127.0.0.1:18082", headers=None, content=None, params=None):
    async def go():
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:18082") as client:
            request = client.build_request(method, path, headers=headers, content=content, params=params)
            request.headers["host"] = host
            return await client.send(request)

    return asyncio.run(go())


def switch_on(app):
    return app.state.service.injector.snapshot()["transient"]


# --- Origin: a page of another site ----------------------------------------------------------------


def test_a_cross_origin_form_post_produces_no_order():
    app, producer = make_app()
    r = call(app, "POST", "/api/v1/orders", content=b"orderId=ORD-EVIL&amount=1",
             headers={"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 403
    assert r.json()["error"] == "cross_origin_refused" and "http://evil.example" in r.json()["message"]
    assert producer.sent == []


def test_a_cross_origin_page_cannot_switch_failure_injection_on():
    app, _ = make_app()
    for headers in ({"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"},
                    {"Origin": "https://evil.example:443"}, {"Origin": "null"}):
        r = call(app, "POST", SWITCH, params={"enabled": "true"}, headers=headers)
        assert r.status_code == 403, (headers, r.text)
        assert switch_on(app) is False
    r = call(app, "GET", "/api/v1/stats", headers={"Origin": "http://evil.example"})
    assert r.status_code == 403  # a foreign page gets nothing at all


@pytest.mark.parametrize("origin", ["http://localhost:8888", "http://127.0.0.1:18082", "https://localhost",
                                    "http://[::1]:8888", "http://LOCALHOST:3000"])
def test_a_local_origin_is_allowed(origin):
    app, producer = make_app()
    r = call(app, "POST", "/api/v1/orders", content=ORDER,
             headers={"Origin": origin, "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    assert len(producer.sent) == 1


def test_a_same_origin_page_is_allowed_on_an_allowed_host():
    """/docs opened at the machine's address (an API bound to 0.0.0.0): its "Try it out" sends the
    page's own origin."""
    app, producer = make_app(bind_host="0.0.0.0")
    r = call(app, "POST", "/api/v1/orders", host="192.168.1.10:18082", content=ORDER,
             headers={"Origin": "http://192.168.1.10:18082", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    r = call(app, "POST", "/api/v1/orders", host="192.168.1.10:18082", content=ORDER,
             headers={"Origin": "http://192.168.1.11:18082", "Content-Type": "application/json"})
    assert r.status_code == 403


# --- Host: DNS rebinding ---------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "evil.example:18082", "localhost.evil.example:18082",
                                  "127.0.0.1.nip.io:18082"])
def test_a_foreign_host_is_refused(host):
    app, producer = make_app()
    r = call(app, "POST", "/api/v1/orders", host=host, content=ORDER, headers={"Content-Type": "application/json"})
    assert r.status_code == 421, r.text
    assert r.json()["error"] == "misdirected_request" and host.split(":")[0] in r.json()["message"]
    r = call(app, "POST", SWITCH, host=host, params={"enabled": "true"})
    assert r.status_code == 421
    assert call(app, "GET", "/health", host=host).status_code == 421
    assert producer.sent == [] and switch_on(app) is False


@pytest.mark.parametrize("host", ["localhost:18082", "127.0.0.1:18082", "[::1]:18082", "localhost",
                                  "LocalHost:1", "localhost.:18082"])
def test_the_local_names_are_allowed(host):
    app, _ = make_app()
    assert call(app, "GET", "/api/v1/config", host=host).status_code == 200


def test_the_bound_address_and_configured_names_are_allowed(monkeypatch):
    app, _ = make_app(bind_host="10.1.2.3")
    assert call(app, "GET", "/api/v1/config", host="10.1.2.3:18082").status_code == 200
    assert call(app, "GET", "/api/v1/config", host="10.1.2.4:18082").status_code == 421
    app, _ = make_app(allowed_hosts=["labkit-api"])
    assert call(app, "GET", "/api/v1/config", host="labkit-api:18082").status_code == 200
    monkeypatch.setenv("LABKIT_API_ALLOWED_HOSTS", "course.example, other.example")
    app, _ = make_app()
    assert call(app, "GET", "/api/v1/config", host="course.example:18082").status_code == 200
    assert call(app, "GET", "/api/v1/config", host="evil.example:18082").status_code == 421
    monkeypatch.setenv("LABKIT_API_ALLOWED_HOSTS", "*")
    app, _ = make_app()
    assert call(app, "GET", "/api/v1/config", host="evil.example:18082").status_code == 200


def test_bound_to_all_interfaces_an_ip_address_or_the_machines_name_is_allowed():
    import socket

    app, _ = make_app(bind_host="0.0.0.0")
    for host in ("172.17.0.2:18082", "[fe80::1]:18082", f"{socket.gethostname()}:18082", "localhost:18082"):
        assert call(app, "GET", "/api/v1/config", host=host).status_code == 200, host
    assert call(app, "GET", "/api/v1/config", host="evil.example:18082").status_code == 421


# --- Content-Type ----------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain",
                                          "multipart/form-data; boundary=x", "text/plain;charset=UTF-8"])
def test_a_state_change_with_a_form_content_type_is_415(content_type):
    app, producer = make_app()
    r = call(app, "POST", "/api/v1/orders", content=ORDER, headers={"Content-Type": content_type})
    assert r.status_code == 415, r.text
    assert r.json()["error"] == "unsupported_media_type" and "application/json" in r.json()["message"]
    r = call(app, "POST", SWITCH, params={"enabled": "true"}, content=b"", headers={"Content-Type": content_type})
    assert r.status_code == 415
    assert producer.sent == [] and switch_on(app) is False


def test_json_content_types_and_bodyless_switches_work():
    app, producer = make_app()
    for content_type in ("application/json", "application/json; charset=utf-8", "Application/JSON"):
        r = call(app, "POST", "/api/v1/orders", content=ORDER, headers={"Content-Type": content_type})
        assert r.status_code == 202, r.text
    assert len(producer.sent) == 3
    # the module's `curl -X POST ".../simulate-transient-error?enabled=true"`: no body, no Content-Type
    r = call(app, "POST", SWITCH, params={"enabled": "true"})
    assert r.status_code == 200 and r.json()["simulateTransientError"] is True
    # a raw body without any Content-Type (notebook 04 posts its bad bodies so) is judged as JSON
    assert call(app, "POST", "/api/v1/orders", content=b"[1, 2]").status_code == 422
    assert call(app, "POST", "/api/v1/orders", content=b"orderId=ORD-8").status_code == 400


# --- the request head ------------------------------------------------------------------------------


def test_headers_over_the_limit_are_431_and_nothing_is_done():
    from labkit.api.guard import MAX_HEADER_BYTES

    app, producer = make_app()
    big = {"Content-Type": "application/json", "X-Padding": "a" * 20_000}
    r = call(app, "POST", "/api/v1/orders", content=ORDER, headers=big)
    assert r.status_code == 431 and r.json()["error"] == "request_header_fields_too_large"
    assert str(MAX_HEADER_BYTES) in r.json()["message"]
    assert call(app, "POST", SWITCH, params={"enabled": "true"}, headers={"X-Padding": "a" * 20_000}).status_code == 431
    assert producer.sent == [] and switch_on(app) is False
    # what curl and browsers send passes
    ordinary = {"Content-Type": "application/json", "User-Agent": "Mozilla/5.0 " + "x" * 200,
                "Accept": "*/*", "Cookie": "c=" + "y" * 2000}
    assert call(app, "POST", "/api/v1/orders", content=ORDER, headers=ordinary).status_code == 202


# --- the body, while it is read --------------------------------------------------------------------


def test_a_declared_oversize_body_is_413_before_it_is_read():
    app, producer = make_app()
    read = []

    async def go():
        messages = [{"type": "http.request", "body": b"x" * 1000, "more_body": True}]

        async def receive():
            read.append(1)
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/v1/orders", "raw_path": b"/api/v1/orders", "query_string": b"",
                 "root_path": "", "server": ("127.0.0.1", 18082), "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"127.0.0.1:18082"), (b"content-type", b"application/json"),
                             (b"content-length", str(1 << 30).encode())]}
        await app(scope, receive, send)
        return sent

    sent = asyncio.run(go())
    assert sent[0]["status"] == 413 and read == []
    assert json.loads(sent[1]["body"])["error"] == "payload_too_large"
    assert producer.sent == []


def test_a_streamed_body_over_the_limit_is_413():
    app, producer = make_app()

    async def chunks():
        for _ in range(MAX_BODY_BYTES // 1024 + 2):
            yield b"x" * 1024

    r = call(app, "POST", "/api/v1/orders", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and r.json()["error"] == "payload_too_large"
    assert producer.sent == []


def asgi_post(app, messages, *, wait_forever=False, extra_headers=()):
    """Drive the app with ASGI messages; after them, receive() blocks (a stalled client) or disconnects."""
    async def go():
        queue = list(messages)
        sent = []

        async def receive():
            if queue:
                return queue.pop(0)
            if wait_forever:
                await asyncio.Event().wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                 "scheme": "http", "path": "/api/v1/orders", "raw_path": b"/api/v1/orders", "query_string": b"",
                 "root_path": "", "server": ("127.0.0.1", 18082), "client": ("127.0.0.1", 5000),
                 "headers": [(b"host", b"127.0.0.1:18082"), (b"content-type", b"application/json"),
                             (b"content-length", b"100"), *extra_headers]}
        await app(scope, receive, send)
        return sent

    return asyncio.run(go())


def test_a_body_that_stops_arriving_is_408():
    app, producer = make_app(body_timeout_s=0.2)
    sent = asgi_post(app, [{"type": "http.request", "body": b'{"orderId"', "more_body": True}], wait_forever=True)
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"])["error"] == "request_timeout"
    assert producer.sent == []


def test_an_aborted_upload_is_one_log_line(caplog):
    app, producer = make_app()
    with caplog.at_level(logging.INFO, logger="labkit"):
        sent = asgi_post(app, [{"type": "http.request", "body": b'{"orderId"', "more_body": True}])
    assert sent == [] and producer.sent == []
    lines = [r for r in caplog.records if "upload" in r.getMessage()]
    assert len(lines) == 1 and lines[0].exc_info is None, [r.getMessage() for r in caplog.records]
    assert "10 of 100 bytes" in lines[0].getMessage()


# --- failure injection stays under the poll budget -------------------------------------------------


def test_latency_above_the_poll_budget_is_422():
    """A full poll (max_poll_records records) at the injected latency must fit in max.poll.interval.ms,
    or the consumer is evicted while it works."""
    app, _ = make_app()
    settings = app.state.service.settings
    budget_ms = settings.max_poll_interval_ms / 100  # the processor's default max_poll_records
    r = call(app, "POST", SWITCH, params={"enabled": "false", "latencyMs": "60000"})
    assert r.status_code == 422 and "latencyMs" in r.json()["message"]
    r = call(app, "POST", SWITCH, params={"enabled": "false", "latencyMs": str(budget_ms)})
    assert r.status_code == 422
    assert app.state.service.injector.snapshot()["latency_s"] == 0
    r = call(app, "POST", SWITCH, params={"enabled": "false", "latencyMs": "100"})
    assert r.status_code == 200 and r.json()["latencyMs"] == 100
