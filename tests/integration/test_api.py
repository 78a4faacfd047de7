"""The order API on a real broker: the module's curl commands run as written, fuzzing, health when
the broker stops and comes back, graceful SIGTERM, busy port, and a clean partition hand-over."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import httpx
import pytest
from conftest import HEARTBEAT_MS, SESSION_MS, quick_policy, topic_counts, wait_until
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from labkit import broker
from labkit.api.server import ApiServer, PortInUse
from labkit.dlt import read_dlt
from labkit.engine.processor import OrderProcessor
from labkit.errors import MaxRetriesExceeded, ServiceUnavailable, ValidationError, error_label
from labkit.events import Processed, SentToDLT
from labkit.kafka import topics
from labkit.settings import load
from tests.conftest import ENGINE, free_port

pytestmark = pytest.mark.broker

# The module's commands, copied verbatim from module-04.md (Labs 1-5); only the port may change.
LAB1 = r"""for i in {1..5}; do
  curl -X POST "http://localhost:18082/api/v1/orders" \
    -H "Content-Type: application/json" \
    -d "{\"orderId\": \"ORD-$i\", \"amount\": $((i * 100)), \"status\": \"PENDING\"}"
  echo ""
done"""
LAB2 = """curl -X POST "http://localhost:18082/api/v1/orders" \\
  -H "Content-Type: application/json" \\
  -d '{"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}'"""
LAB3_ON = 'curl -X POST "http://localhost:18082/api/v1/config/simulate-transient-error?enabled=true"'
LAB3_ORDER = """curl -X POST "http://localhost:18082/api/v1/orders" \\
  -H "Content-Type: application/json" \\
  -d '{"orderId": "ORD-RETRY", "amount": 200, "status": "PENDING"}'"""
LAB3_LOGS = 'docker logs m04-java-api --tail 50 | grep -E "(Retry|attempt|DLT)"'
LAB3_OFF = 'curl -X POST "http://localhost:18082/api/v1/config/simulate-transient-error?enabled=false"'
LAB4 = r"""for i in {1..10}; do
  curl -X POST "http://localhost:18082/api/v1/orders" \
    -H "Content-Type: application/json" \
    -d "{\"orderId\": \"ORD-REBAL-$i\", \"amount\": 100, \"status\": \"PENDING\"}"
done"""
LAB5_STATS = "curl -s http://localhost:18082/api/v1/stats | jq"
LAB5_DLT = "curl -s http://localhost:18082/api/v1/dlt/count"
LAB5_HEALTH = "curl -s http://localhost:18082/health"


def sh(command: str, port: int, timeout_s: float = 60) -> str:
    """Run a module command with bash, the port substituted and nothing else changed."""
    proc = subprocess.run(["bash", "-c", command.replace("18082", str(port))], capture_output=True, text=True,
                          timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def json_objects(text: str) -> list[dict]:
    """Concatenated JSON objects (the Lab 4 loop prints them without newlines)."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
    return out


def short_settings(settings):
    return settings.replace(session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS)


def start_api(settings, log_file, port=18082, **kwargs) -> ApiServer:
    """The API on 18082 if it is free, else on a free port (the commands get that port)."""
    kwargs.setdefault("policy", quick_policy(0.05, 3))
    try:
        return ApiServer(settings, port=port, log_file=log_file, **kwargs).start()
    except PortInUse:
        return ApiServer(settings, port=0, log_file=log_file, **kwargs).start()


def healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/health", timeout=10).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_module_curl_commands_work_as_written(settings, tmp_path):
    log_file = tmp_path / "api.log"
    api = start_api(short_settings(settings), log_file)
    events = api.service.events
    port = api.port
    try:
        wait_until(lambda: healthy(api.url), 30, "health 200 (consumer owns partitions)")

        # Lab 1: 5 valid orders land in `orders` and are processed
        answers = [json.loads(line) for line in sh(LAB1, port).splitlines() if line.strip()]
        assert [a["orderId"] for a in answers] == [f"ORD-{i}" for i in range(1, 6)]
        assert all(a["status"] == "ACCEPTED" and a["topic"] == settings.orders_topic for a in answers)
        assert topic_counts(settings, settings.orders_topic) == 5
        wait_until(lambda: len(events.of(Processed)) == 5, 20, "5 orders processed")
        where = {(e.partition, e.offset): e.order_id for e in events.of(Processed)}
        assert where == {(a["partition"], a["offset"]): a["orderId"] for a in answers}

        # Lab 2: accepted by the API (well-formed), sent to the DLT by the consumer, with the envelope
        invalid = json.loads(sh(LAB2, port))
        assert invalid["status"] == "ACCEPTED"
        wait_until(lambda: events.of(SentToDLT), 20, "ORD-INVALID in the DLT")
        [entry] = read_dlt(settings)
        env = entry.envelope.to_dict()
        assert entry.key_text == "ORD-INVALID"
        assert (env["originalTopic"], env["originalPartition"], env["originalOffset"]) == (
            settings.orders_topic, invalid["partition"], invalid["offset"])
        assert env["originalKey"] == "ORD-INVALID" and json.loads(env["originalValue"])["amount"] == -50
        assert env["errorMessage"] == "ValidationException: Invalid amount -50" and env["retryCount"] == 0
        assert env["errorTimestamp"].endswith("Z") and "ValidationError" in env["stackTrace"]

        # Lab 3: the transient toggle -> retries in the log, then DLT (every attempt fails), toggle off
        assert json.loads(sh(LAB3_ON, port))["simulateTransientError"] is True
        retry = json.loads(sh(LAB3_ORDER, port))
        wait_until(lambda: [e for e in events.of(SentToDLT, Processed) if e.order_id == "ORD-RETRY"], 20,
                   "ORD-RETRY settled (processed or DLT)")
        grep = LAB3_LOGS.replace("docker logs m04-java-api --tail 50", f"tail -n 50 {log_file}")
        lines = sh(grep, port).splitlines()
        retries = [line for line in lines if "Retry" in line and "ORD-RETRY" in line]
        assert [r.split("Retry ")[1][:3] for r in retries] == ["1/3", "2/3", "3/3"]
        assert all("attempt" in r for r in retries)
        assert any("DLT" in line and "ORD-RETRY" in line for line in lines)
        assert json.loads(sh(LAB3_OFF, port))["simulateTransientError"] is False
        dlt_retry = [e for e in read_dlt(settings) if e.key_text == "ORD-RETRY"]
        assert dlt_retry[0].envelope.retry_count == 3 and dlt_retry[0].envelope.original_offset == retry["offset"]

        # Lab 4's produce loop (10 orders, no newline between answers)
        rebal = json_objects(sh(LAB4, port))
        assert [a["orderId"] for a in rebal] == [f"ORD-REBAL-{i}" for i in range(1, 11)]
        wait_until(lambda: len(events.of(Processed)) == 15, 20, "15 orders processed")

        # Lab 5: stats, DLT count and health answer with the right figures
        stats = json.loads(sh(LAB5_STATS, port))
        assert stats["produced"] == 17 and stats["processed"] == 15 and stats["retries"] == 3
        assert stats["dlt"] == {"total": 2, "byReason": {
            error_label(ValidationError): 1, error_label(MaxRetriesExceeded(3, ServiceUnavailable("x"))): 1}}
        assert stats["inFlight"] == 0 and stats["notYetConsumed"] == 0
        assert sum(p["processed"] + p["dlt"] for p in stats["partitions"]) == 17
        assert len(stats["consumers"]) == 1 and len(stats["consumers"][0]["partitions"]) == 6
        assert json.loads(sh(LAB5_DLT, port)) == {"topic": settings.dlt_topic, "count": 2}
        health = json.loads(sh(LAB5_HEALTH, port))
        assert health["status"] == "UP" and len(health["consumer"]["partitions"]) == 6
        assert sh(LAB5_HEALTH.replace("-s", "-s -o /dev/null -w %{http_code}"), port) == "200"
        assert topic_counts(settings, settings.orders_topic) == 17
    finally:
        api.stop()


# --- fuzzing: no 5xx, and nothing produced for a rejected body ------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=10)
order_like = st.fixed_dictionaries({}, optional={
    "orderId": st.text(max_size=30) | json_scalars, "amount": st.integers() | st.floats() | json_scalars,
    "status": st.sampled_from(["PENDING", "PAID", "bogus", ""]) | json_scalars, "extra": json_values})
valid_order = st.fixed_dictionaries(
    {"orderId": st.text(min_size=1, max_size=30).filter(str.strip),
     "amount": st.integers() | st.floats(allow_nan=False, allow_infinity=False)},
    optional={"status": st.text(max_size=10), "extra": json_values})
bodies = (valid_order.map(lambda v: json.dumps(v).encode()) | order_like.map(lambda v: json.dumps(v).encode())
          | json_values.map(lambda v: json.dumps(v).encode())
          | st.binary(max_size=60) | st.text(max_size=60).map(lambda t: t.encode("utf-8", "surrogatepass")))


def well_formed(body: bytes) -> bool:
    """The API's contract, written independently: a JSON object with a non-empty string orderId
    (<= 256 chars, printable: no control character), a finite non-boolean number amount, and a string
    status if present; neither string holds a lone UTF-16 surrogate (no record could carry it)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=lambda c: 1 / 0)
    except (ValueError, ZeroDivisionError, RecursionError):
        return False
    if not isinstance(value, dict):
        return False
    oid, amount, status = value.get("orderId"), value.get("amount"), value.get("status", "")
    return (isinstance(oid, str) and bool(oid.strip()) and len(oid) <= 256
            and not any(unicodedata.category(c) in ("Cc", "Cs") for c in oid)
            and type(amount) in (int, float) and math.isfinite(amount) and isinstance(status, str)
            and not any(unicodedata.category(c) == "Cs" for c in status))


def test_fuzzed_bodies_never_5xx_and_rejected_ones_produce_nothing(settings):
    accepted: list[dict] = []
    with ApiServer(settings, port=0, consume=False) as api, httpx.Client(base_url=api.url, timeout=15) as client:

        @hyp_settings(max_examples=int(os.environ.get("LABKIT_FUZZ_EXAMPLES", "150")), deadline=None,
                      suppress_health_check=list(HealthCheck), database=None)
        @given(body=bodies, content_type=st.sampled_from(["application/json", "text/plain", None]))
        def post(body, content_type):
            headers = {"Content-Type": content_type} if content_type else {}
            r = client.post("/api/v1/orders", content=body, headers=headers)
            assert r.status_code < 500, r.text
            answer = r.json()
            if content_type == "text/plain":  # what a cross-site form or fetch can send: refused, whatever the body
                assert r.status_code == 415 and answer["error"] == "unsupported_media_type", r.text
                return
            if r.status_code == 202:
                accepted.append(answer)
                assert answer["topic"] == settings.orders_topic and answer["offset"] >= 0
            else:
                assert r.status_code in (400, 413, 422) and answer["error"] and answer["message"]
            assert (r.status_code == 202) == well_formed(body), (body, r.text)

        @hyp_settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        @given(params=st.dictionaries(st.sampled_from(["enabled", "rate", "failFirst", "latencyMs", "x"]),
                                      st.text(max_size=6) | st.integers().map(str) | st.floats().map(str)))
        def toggle(params):
            r = client.post("/api/v1/config/simulate-transient-error", params=params)
            assert r.status_code in (200, 422), r.text

        post()
        toggle()
        assert client.post("/api/v1/orders", content=b"x" * 70_000).status_code == 413
        assert client.get("/openapi.json").json()["paths"]["/api/v1/orders"]["post"]["requestBody"]
        assert client.get("/docs").status_code == 200
    assert accepted, "the fuzzer never produced a well-formed order"
    assert topic_counts(settings, settings.orders_topic) == len(accepted)
    assert len({(a["partition"], a["offset"]) for a in accepted}) == len(accepted)


# --- cross-site requests: a page in the student's browser cannot drive the API --------------------


def raw_http(port: int, request: bytes, body_parts: tuple[bytes, ...] = (), timeout_s: float = 20) -> bytes:
    """Send ``request`` (headers and maybe a first part of the body) and ``body_parts`` on a raw socket;
    the whole answer once the server closes the connection."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(request)
        for part in body_parts:
            conn.sendall(part)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer


def test_a_cross_origin_form_and_a_foreign_host_change_nothing(settings, tmp_path):
    """What a page of http://evil.example open in the student's browser can send to localhost:18082:
    a plain form (no preflight) to post an order or to switch failure injection on, or the same through
    DNS rebinding (its own name in Host). Nothing is produced, no switch moves; the module's commands
    and a local page still work."""
    log_file = tmp_path / "api.log"
    with ApiServer(short_settings(settings), port=0, log_file=log_file, policy=quick_policy()) as api, \
            httpx.Client(base_url=api.url, timeout=15) as client:
        form = {"Origin": "http://evil.example", "Content-Type": "application/x-www-form-urlencoded"}
        r = client.post("/api/v1/orders", content=b"orderId=ORD-EVIL&amount=1", headers=form)
        assert r.status_code == 403 and r.json()["error"] == "cross_origin_refused", r.text
        r = client.post("/api/v1/orders", content=b'{"orderId": "ORD-EVIL", "amount": 1}',
                        headers={"Origin": "http://evil.example", "Content-Type": "text/plain"})
        assert r.status_code == 403
        r = client.post("/api/v1/config/simulate-transient-error", params={"enabled": "true"}, headers=form)
        assert r.status_code == 403
        # without an Origin (an old browser, a privacy extension), the form's Content-Type is refused
        r = client.post("/api/v1/config/simulate-transient-error", params={"enabled": "true"},
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert r.status_code == 415 and r.json()["error"] == "unsupported_media_type"
        # DNS rebinding: evil.example now resolves to 127.0.0.1, the browser sends its own name
        rebound = {"Host": f"evil.example:{api.port}"}
        r = client.post("/api/v1/orders", json={"orderId": "ORD-EVIL", "amount": 1}, headers=rebound)
        assert r.status_code == 421 and r.json()["error"] == "misdirected_request", r.text
        r = client.post("/api/v1/config/simulate-transient-error", params={"enabled": "true"}, headers=rebound)
        assert r.status_code == 421
        assert client.get("/api/v1/stats", headers=rebound).status_code == 421  # nothing to read either
        assert client.get("/api/v1/config").json()["simulateTransientError"] is False
        assert topic_counts(settings, settings.orders_topic) == 0

        # still working: the module's commands (as printed, localhost) and a page of JupyterLab
        assert json.loads(sh(LAB3_ON, api.port))["simulateTransientError"] is True
        assert json.loads(sh(LAB3_OFF, api.port))["simulateTransientError"] is False
        assert json.loads(sh(LAB2, api.port))["status"] == "ACCEPTED"
        r = client.post("/api/v1/orders", json={"orderId": "ORD-LOCAL", "amount": 1},
                        headers={"Origin": "http://localhost:8888"})
        assert r.status_code == 202
        assert topic_counts(settings, settings.orders_topic) == 2
    assert "Traceback" not in log_file.read_text()


def test_the_body_limit_holds_while_reading(settings, tmp_path):
    """A declared 1 GB upload is a 413 before any byte of it; a body that stops arriving a 408 once its
    time is up (here 1 s); a client that leaves mid-upload one log line, no traceback; nothing produced."""
    log_file = tmp_path / "api.log"
    with ApiServer(settings, port=0, consume=False, log_file=log_file, body_timeout_s=1.0) as api:
        head = (f"POST /api/v1/orders HTTP/1.1\r\nHost: localhost:{api.port}\r\n"
                "Content-Type: application/json\r\n").encode()
        answer = raw_http(api.port, head + b"Content-Length: 1000000000\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 413") and b"payload_too_large" in answer, answer

        answer = raw_http(api.port, head + b"Content-Length: 100\r\n\r\n" + b'{"orderId"')
        assert answer.startswith(b"HTTP/1.1 408") and b"request_timeout" in answer, answer

        chunk = b"x" * 4096
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20))
        answer = raw_http(api.port, head + b"Transfer-Encoding: chunked\r\n\r\n", (chunked,))
        assert answer.startswith(b"HTTP/1.1 413"), answer

        import socket

        with socket.create_connection(("127.0.0.1", api.port), timeout=10) as conn:
            conn.sendall(head + b"Content-Length: 50000\r\n\r\n" + b'{"orderId": "ORD-GONE", ')
        wait_until(lambda: "disconnected during the upload" in log_file.read_text(), 10, "the aborted upload logged")
        assert httpx.get(api.url + "/api/v1/config", timeout=10).status_code == 200  # still serving
    text = log_file.read_text()
    assert text.count("disconnected during the upload") == 1 and "Traceback" not in text, text
    assert topic_counts(settings, settings.orders_topic) == 0


def test_the_api_refuses_a_symlinked_log_file(settings, tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("mine\n")
    (tmp_path / "api.log").symlink_to(target)
    from labkit.paths import UnsafePath

    with pytest.raises(UnsafePath, match="symbolic link"):
        ApiServer(settings, port=0, consume=False, log_file=tmp_path / "api.log").start()
    out = subprocess.run([sys.executable, "-m", "labkit.cli", "--bootstrap-server", settings.bootstrap_servers,
                          "api", "--port", str(free_port()), "--log-file", str(tmp_path / "api.log")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "symbolic link" in out.stderr and "Traceback" not in out.stderr, out
    assert target.read_text() == "mine\n"


# --- health follows the broker ---------------------------------------------------------------------


def test_health_is_503_when_the_broker_stops_and_200_when_it_is_back(state_dir, tmp_path):
    """A dedicated embedded broker (memory only: topics are created again after the restart)."""
    own = short_settings(load(bootstrap_servers=f"127.0.0.1:{free_port()}").with_prefix("h-"))
    broker.up("embedded", settings=own)
    api = None
    try:
        topics.create(own)
        api = ApiServer(own, port=0, log_file=tmp_path / "api.log", policy=quick_policy(),
                        health_timeout_s=3.0).start()
        wait_until(lambda: healthy(api.url), 30, "health 200")
        order = {"orderId": "ORD-1", "amount": 10}
        assert httpx.post(api.url + "/api/v1/orders", json=order, timeout=10).status_code == 202

        broker.down(own)
        t0 = time.monotonic()
        r = httpx.get(api.url + "/health", timeout=10)
        assert r.status_code == 503 and time.monotonic() - t0 < 5
        assert r.json()["status"] == "DOWN" and "no Kafka broker answers" in r.json()["reason"]
        for path in ("/api/v1/dlt/count",):
            r = httpx.get(api.url + path, timeout=10)
            assert r.status_code == 503 and r.json()["error"] == "kafka_unavailable"
        t0 = time.monotonic()
        r = httpx.post(api.url + "/api/v1/orders", json={"orderId": "ORD-LOST", "amount": 1}, timeout=15)
        assert r.status_code == 503 and "not confirmed" in r.json()["message"]
        assert time.monotonic() - t0 < 8
        assert httpx.get(api.url + "/api/v1/stats", timeout=10).status_code == 200  # memory only: still up

        # as the student is told: ensure() also replaces a topic that a reconnecting client had the
        # empty broker re-create with its default partition count (a race: CI saw it once)
        assert broker.ensure(own, engine="embedded").restarted
        wait_until(lambda: healthy(api.url), 60, "health 200 again after the restart")
        assert httpx.post(api.url + "/api/v1/orders", json={"orderId": "ORD-2", "amount": 10},
                          timeout=10).status_code == 202
        wait_until(lambda: any(e.order_id == "ORD-2" for e in api.service.events.of(Processed)), 30,
                   "ORD-2 processed after the restart")
        assert topic_counts(own, own.orders_topic) == 1  # ORD-LOST was answered 503 and not written later
    finally:
        if api is not None:
            api.stop()
        broker.down(own)


# --- the processes: busy port, SIGTERM, clean hand-over (Lab 4) -----------------------------------

# A crash is noticed only after the session timeout; a clean leave starts the rebalance at once (measured
# 0.5 s): that is what the test tells apart. The hand-over itself takes a rebalance round, ~session/2 on the
# embedded broker (it holds every JoinGroup) and ~2 s on Apache Kafka, sometimes two rounds on the embedded one.
HANDOVER_SESSION_MS = 10_000
GROUP_ARGS = ["--session-timeout-ms", str(HANDOVER_SESSION_MS), "--heartbeat-interval-ms", "1000"]


def spawn(settings, args, log_file) -> subprocess.Popen:
    prefix = settings.orders_topic[: -len("orders")]
    return subprocess.Popen([sys.executable, "-m", "labkit.cli", *args, "--prefix", prefix, "--log-file",
                             str(log_file), *GROUP_ARGS], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=os.environ | {"LABKIT_FAST": "1"})


def owned(url: str, path: str) -> list[str]:
    """The partitions an instance owns, from its own HTTP endpoint ([] while it is not up)."""
    try:
        body = httpx.get(url + path, timeout=5).json()
    except (httpx.HTTPError, ValueError):
        return []
    return body["consumers"][0]["partitions"] if "consumers" in body else body.get("partitions", [])


def test_busy_port_fails_fast_and_sigterm_hands_partitions_over_cleanly(settings, tmp_path):
    """Lab 4 on one machine: the API (with its consumer) and two `labkit consumer` instances share
    the 6 partitions; SIGTERM one consumer (the module's `docker stop`): it commits and leaves, and
    the others own all 6 well before a session timeout could even have noticed a crash."""
    from labkit.observe.monitor import lag_table

    api_port, http_ports = free_port(), [free_port(), free_port()]
    procs = [spawn(settings, ["--bootstrap-server", settings.bootstrap_servers, "api", "--port", str(api_port)],
                   tmp_path / "api.log")]
    procs += [spawn(settings, ["consumer", "--name", f"consumer-{i + 1}", "--bootstrap-servers",
                               settings.bootstrap_servers, "--http-port", str(port), "--no-events"],
                    tmp_path / f"consumer-{i + 1}.log") for i, port in enumerate(http_ports)]
    endpoints = [(f"http://127.0.0.1:{api_port}", "/api/v1/stats")] + [
        (f"http://127.0.0.1:{p}", "/stats") for p in http_ports]
    try:
        wait_until(lambda: all(owned(*e) for e in endpoints) and sum(len(owned(*e)) for e in endpoints) == 6,
                   90, "the API and both consumers own partitions")
        # a second API on a busy port: one line, exit 1, before touching Kafka
        t0 = time.monotonic()
        busy = subprocess.run([sys.executable, "-m", "labkit.cli", "api", "--port", str(api_port),
                               "--log-file", ""], capture_output=True, text=True, timeout=30)
        assert busy.returncode == 1 and time.monotonic() - t0 < 10
        assert busy.stderr.strip().count("\n") == 0 and "already in use" in busy.stderr

        sh(LAB4, api_port)  # the module's "send messages during the rebalance" loop
        procs[2].send_signal(signal.SIGTERM)  # docker stop m04-dotnet-consumer-2
        t0 = time.monotonic()
        assert procs[2].wait(timeout=30) == 0
        session_s = HANDOVER_SESSION_MS / 1000

        def others() -> list[list[str]]:
            return [owned(*e) for e in endpoints[:2]]

        def rebalance_started() -> bool:
            """Someone's partitions were revoked (eager), or the hand-over is already done."""
            now = others()
            return not all(now) or sum(map(len, now)) == 6

        # what tells a clean leave from a crash: the rebalance starts at once, where a crash is
        # noticed only after the session timeout
        wait_until(rebalance_started, session_s / 2, "a rebalance started by the leave")
        started = time.monotonic() - t0
        # then the hand-over: one rebalance round (about session/2 on the embedded broker, which holds
        # rebalances), two when a member misses the first generation (1 in ~30 there)
        wait_until(lambda: sum(map(len, others())) == 6, 2 * session_s + 10, "the others own all 6")
        handover = time.monotonic() - t0
        print(f"after SIGTERM: rebalance started in {started:.2f} s, partitions handed over in {handover:.2f} s "
              f"(session timeout {session_s:g} s)")
        assert "left the group cleanly" in (tmp_path / "consumer-2.log").read_text()
        assert "rebalance: assigned" in (tmp_path / "consumer-1.log").read_text()
        # every order of the loop is done and committed by someone: no lag left on `orders`
        def all_committed() -> bool:
            df = lag_table(settings, timeout_s=5)
            ends, current = df["LOG-END-OFFSET"].tolist(), df["CURRENT-OFFSET"].fillna(-1).tolist()
            return len(df) == 6 and sum(ends) == 10 and all(
                e == 0 or c == e for e, c in zip(ends, current, strict=True))

        wait_until(all_committed, 30, "every partition committed up to its end")
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    assert "stopped by SIGTERM" in (tmp_path / "api.log").read_text()


def test_a_foreign_consumer_in_the_group_is_named_instead_of_a_timeout(settings):
    """A terminal `labkit consumer` (here: a processor of this test) holds partitions of the group:
    starting the notebook's API says who it is and how to stop it, after the session timeout at most."""
    from labkit.observe.members import ForeignConsumers

    # the grace before the error is a session timeout (the course's 6 s; 2 s on the embedded broker, whose
    # rebalances take about half a session each)
    quick = settings.replace(session_timeout_ms=SESSION_MS, heartbeat_interval_ms=HEARTBEAT_MS)
    other = OrderProcessor(quick, consumer_id="terminal-consumer-1").start()
    try:
        wait_until(lambda: other.assignment, 30, "the foreign consumer to join")
        started = time.monotonic()
        who = "terminal-consumer-1" if ENGINE != "embedded" else r"a member \(this broker does not say which client\)"
        with pytest.raises(ForeignConsumers, match=f"{who}.*Stop it"):
            ApiServer(quick, port=0).start()
        assert time.monotonic() - started < 30
    finally:
        other.stop()
    # alone again: it starts (on the embedded broker, which leaves the group stuck once both left,
    # after the processor noticed and reset the group: labkit.broker.stuck_group)
    api = ApiServer(quick, port=0).start(timeout_s=30)
    try:
        assert api.service.processor.assignment
    finally:
        api.stop()


def test_starting_the_api_twice_in_one_process_leaves_one_consumer(settings):
    """A notebook cell run twice: the second API stops the first, the group has one member."""
    from labkit.observe.lag import group_state

    first = ApiServer(settings, port=0).start()
    second = ApiServer(settings, port=0).start()
    try:
        assert first._thread is None  # stopped by the second start
        members = wait_until(lambda: (lambda m: m if len(m) == 1 else None)(group_state(settings)["members"]), 30,
                             "one member")
        assert len(members) == 1
    finally:
        second.stop()
        first.stop()


def terminal_commands() -> list[tuple[str, str]]:
    """The terminal twins the notebooks show next to their ``!curl`` cells (Markdown ``*-terminal`` cells)."""
    import nbformat

    found = []
    for path in sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in nbformat.read(path, 4).cells:
            if cell.cell_type == "markdown" and cell.get("id", "").endswith("-terminal") and "```bash" in cell.source:
                block = cell.source.split("```bash\n", 1)[1].split("\n```", 1)[0]
                found += [(f"{path.name}:{cell.id}", line) for line in block.splitlines() if line.strip()]
    return found


@pytest.mark.parametrize("where,command", terminal_commands(), ids=[w for w, _ in terminal_commands()])
def test_the_notebooks_terminal_commands_run_as_printed(settings, where, command):
    """Copied into a terminal (single braces, localhost:18082), each answers with JSON, not an error."""
    with ApiServer(short_settings(settings), port=0) as api:
        out = sh(command, api.port)
    body = out.split("\nHTTP ")[0].strip()
    assert body and json_objects(body), f"{where}: {out!r}"
    if "\nHTTP " in out:
        assert out.rsplit("HTTP ", 1)[1].strip() in {"202", "422"}, f"{where}: {out!r}"
