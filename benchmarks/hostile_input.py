"""Hostile input: what the order API and its consumer do with bad requests and bad records (issue 20).

    python benchmarks/hostile_input.py [--n 200] [--engine kafka|embedded] [--seed 1] [--settle-timeout 90]

A broker on a free port (private state dir) and ``labkit api`` as its own process (its in-process
consumer running, as in the labs), both stopped by this script. Five classes of ``--n`` inputs each:

* **body shape**: not JSON, empty, not an object, missing / wrong-typed fields, NaN, 1e999, a
  5000-digit number, 20 000 levels of nesting, trailing garbage, duplicate keys, invalid orders;
* **encodings**: lone surrogates (escaped), surrogates and overlong forms as raw bytes, invalid
  UTF-8, a BOM, UTF-16, control characters in orderId and status, non-ASCII ids;
* **headers**: Content-Type (form, multipart, text, empty...), Origin (foreign, ``null``, local),
  Host (foreign, rebinding-like names, local), no Host, a 20 KB header, bytes no header may hold;
* **large / slow bodies**: a body just over the API's limit (declared, or chunked without a length),
  16 MB streamed, a few stalled, trickled and aborted uploads; the API's RSS (``VmRSS``) before/after;
* **raw records** straight to ``orders`` (no API): a header key that is not UTF-8, values that are not
  UTF-8 / not JSON / empty / null, invalid orders, a ~900 KB value, odd keys and headers.

Outcomes: HTTP status counts per class (goal: no 5xx) and, for every accepted order and raw record,
where it ended once the group's committed offsets reached the log end: ``processed`` or in the DLT
(``labkit.dlt.read_dlt``, matched by source partition/offset), or ``lost`` (goal 0), cross-checked with
the API's ``/api/v1/stats``. Consumer restarts (goal 0) are counted from the API's log: the API exposes
no restart counter, but its restart loop logs "consumer stopped: ...", and every start of its consumer
"processor ... started". Exit status 0 even when a goal fails: this is a measurement; FAIL is printed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from isolated import free_port, keep, private_state_dir, stop_process  # noqa: E402

from labkit import broker  # noqa: E402
from labkit.api.guard import BODY_TIMEOUT_S  # noqa: E402
from labkit.api.validation import MAX_BODY_BYTES  # noqa: E402
from labkit.dlt import read_dlt  # noqa: E402
from labkit.kafka import clients, topics  # noqa: E402
from labkit.kafka.offsets import committed_offsets, log_end_offsets  # noqa: E402
from labkit.settings import load  # noqa: E402
from labkit.wait import WaitTimeout, wait_until  # noqa: E402
from tests.raw_records import BAD_KEY, RawHeaderKey  # noqa: E402

RSS_GOAL_MB = 50
HUGE_STREAM_BYTES = 16 * 1024 * 1024


def log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """What one class of inputs got: HTTP statuses, and the records it put on ``orders``."""

    name: str
    inputs: int = 0
    statuses: Counter = field(default_factory=Counter)  # HTTP status, or None: no answer
    no_answer: Counter = field(default_factory=Counter)  # why (client-side exception, aborted on purpose)
    records: list[tuple[int, int]] = field(default_factory=list)  # (partition, offset) written to orders
    ended: Counter = field(default_factory=Counter)  # processed / DLT / lost, filled at the end
    raw: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # raw HTTP case -> statuses

    def add(self, status: int | None, why: str = "") -> None:
        self.inputs += 1
        self.statuses[status] += 1
        if status is None:
            self.no_answer[why or "no answer"] += 1

    def band(self, hundreds: int) -> int:
        return sum(n for s, n in self.statuses.items() if s is not None and s // 100 == hundreds)


# --- the inputs: each maker gives (body bytes, extra headers) for input number i ---------------------------

def dump(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def oid(tag: str, i: int) -> str:
    return f"ORD-H-{tag}-{i}"


BODY_SHAPES = [
    lambda i, r: dump({"orderId": oid("ok", i), "amount": r.randint(1, 10_000), "status": "PENDING"}),
    lambda i, r: dump({"orderId": oid("neg", i), "amount": -r.randint(0, 100)}),  # accepted, then DLT
    lambda i, r: dump({"orderId": oid("st", i), "amount": 5, "status": r.choice(["LOST", "", "pending", "💥"])}),
    lambda i, r: r.choice([b"{orderId:", b"not json", b"{'orderId': 'x'}", b'{"orderId": "x",}', b"{" * 3]),
    lambda i, r: r.choice([b"", b" ", b"\n\t  ", b"\r\n"]),
    lambda i, r: r.choice([b"[]", b"[1,2]", b"42", b'"ORD"', b"null", b"true"]),
    lambda i, r: dump(r.choice([{"amount": 5}, {"orderId": oid("noamt", i)}, {}])),
    lambda i, r: dump({"orderId": r.choice([None, 7, [], {}, "", "   ", True]), "amount": 5}),
    lambda i, r: dump({"orderId": oid("amt", i), "amount": r.choice(["10", True, None, [], {"v": 1}])}),
    lambda i, r: dump({"orderId": oid("stt", i), "amount": 5, "status": r.choice([5, None, ["PENDING"], {}])}),
    lambda i, r: r.choice([b'{"orderId":"X","amount":NaN}', b'{"orderId":"X","amount":Infinity}',
                           b'{"orderId":"X","amount":-Infinity}', b'{"orderId":"X","amount":1e999}']),
    lambda i, r: b'{"orderId":"X","amount":' + b"9" * 5000 + b"}",  # Python refuses ints over 4300 digits
    lambda i, r: r.choice([b"[" * 20_000, b'{"a":' * 10_000]),  # nested deeper than the parser's recursion
    lambda i, r: dump({"orderId": oid("trail", i), "amount": 1}) + b" junk",
    lambda i, r: f'{{"orderId":"{oid("dupkey", i)}","orderId":"{oid("dupkey2", i)}","amount":3}}'.encode(),
    lambda i, r: dump({"orderId": "x" * r.choice([256, 257, 5000]), "amount": 1}),
    lambda i, r: dump({"orderId": oid("pad", i), "amount": 1, "pad": "p" * 60_000}),  # just under the limit
]

ENCODINGS = [
    lambda i, r: r.choice([rb'{"orderId":"\ud800","amount":1}', rb'{"orderId":"A\udc00\ud800","amount":1}',
                           rb'{"orderId":"ORD","amount":1,"status":"\udfff"}']),
    lambda i, r: b'{"orderId":"ORD-\xed\xa0\x80","amount":1}',  # a surrogate as UTF-8 bytes: not UTF-8
    lambda i, r: r.choice([b'{"orderId":"\xc0\xaf","amount":1}', b'{"orderId":"\xe2\x82","amount":1}',
                           b'{"orderId":"\xff\xfe","amount":1}', b'{"orderId":"caf\xe9","amount":1}']),
    lambda i, r: b"\xef\xbb\xbf" + dump({"orderId": oid("bom", i), "amount": 1}),
    lambda i, r: json.dumps({"orderId": oid("u16", i), "amount": 1}).encode("utf-16"),
    lambda i, r: dump({"orderId": oid("ctl", i) + r.choice(["\n", "\t", "\x1b[31m", "\x00", "\x7f", "\r"]),
                       "amount": 1}),
    lambda i, r: dump({"orderId": oid("stctl", i), "amount": 1, "status": r.choice(["PEND\x00ING", "\x1b[2J"])}),
    lambda i, r: dump({"orderId": oid("uni", i) + r.choice(["-é", "-日本", "-🙂", "-\u202e1", "-\u200b"]),
                       "amount": 2}),
    lambda i, r: f'{{"orderId":"{oid("pair", i)}\\ud83d\\ude00","amount":2}}'.encode(),  # a valid escaped pair
]

HEADERS = [
    lambda i, r: {"Content-Type": r.choice(["text/plain", "application/x-www-form-urlencoded",
                                            "multipart/form-data; boundary=x", "", "text/json",
                                            "application/json-seq", "application/json, text/plain"])},
    lambda i, r: {"Content-Type": r.choice(["application/json; charset=utf-8", "Application/JSON"])},
    lambda i, r: {"Origin": r.choice(["https://evil.example", "null", "file://", "http://localhost.evil.example",
                                      "javascript:alert(1)", "%%%", "http://127.0.0.1.nip.io:18082"])},
    lambda i, r: {"Origin": r.choice(["http://localhost:8888", "http://127.0.0.1:1", "http://[::1]:8888"])},
    lambda i, r: {"Host": r.choice(["evil.example", "127.0.0.1.nip.io", "localhost@evil.example",
                                    "localhost.evil.example:18082", "a" * 300])},
    lambda i, r: {"Host": r.choice(["localhost:1", "LOCALHOST.", "[::1]:80", "127.0.0.1"])},
]
# raw HTTP the clients would not send: (name, request head without the final blank line); a valid order follows
RAW_HEADERS = [
    ("no Host", b"POST /api/v1/orders HTTP/1.1\r\nContent-Type: application/json"),
    ("HTTP/1.0, no Host", b"POST /api/v1/orders HTTP/1.0\r\nContent-Type: application/json"),
    ("two Hosts", b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nHost: evil.example"),
    ("20 KB header", b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nX-Pad: " + b"x" * 20_000),
    ("0xff in a header", b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nX-Bad: \xff\xfe"),
    ("space in a name", b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nBad Name: 1"),
    ("Content-Type 0xff", b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: appl\xffication/json"),
]


# --- raw HTTP over a socket (what httpx refuses to send, and uploads that stop) -------------------------------

def _status_of(data: bytes) -> int | None:
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return int(m.group(1)) if m else None


def _read_status(sock: socket.socket, deadline: float) -> int | None:
    data = b""
    while b"\r\n" not in data and time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except (TimeoutError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return _status_of(data)


def raw_request(port: int, data: bytes, timeout_s: float = 15.0) -> int | None:
    deadline = time.monotonic() + timeout_s
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout_s)
    except OSError:
        return None
    with sock:
        try:
            sock.sendall(data)
        except OSError:  # the server answered and closed while we were still sending: its answer may be there
            pass
        return _read_status(sock, deadline)


def _head(length: int | None, chunked: bool = False) -> bytes:
    extra = b"Transfer-Encoding: chunked\r\n" if chunked else f"Content-Length: {length}\r\n".encode()
    return b"POST /api/v1/orders HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" + extra + b"\r\n"


def huge_stream(port: int) -> int | None:
    """16 MB chunked, sent until the server answers or closes: the guard must stop reading at its limit."""
    deadline = time.monotonic() + 30
    chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        try:
            sock.sendall(_head(None, chunked=True))
            for _ in range(HUGE_STREAM_BYTES // (64 * 1024)):
                sock.sendall(chunk)
        except OSError:
            pass
        return _read_status(sock, deadline)


def stalled_upload(port: int) -> int | None:
    """Half a body, then nothing: the guard answers 408 after its body timeout."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(2000) + b'{"orderId": "ORD-SLOW", ')
        return _read_status(sock, time.monotonic() + BODY_TIMEOUT_S + 20)


def trickled_upload(port: int) -> int | None:
    """One byte each time the server has said nothing for 0.5 s (a slowloris body)."""
    deadline = time.monotonic() + BODY_TIMEOUT_S + 20
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(2000))
        while time.monotonic() < deadline:
            sock.settimeout(0.5)  # the wait for an answer is the trickle's pace
            try:
                data = sock.recv(4096)
            except TimeoutError:
                try:
                    sock.sendall(b" ")
                except OSError:
                    return None
                continue
            except OSError:
                return None
            return _status_of(data) if data else None
    return None


def aborted_upload(port: int) -> None:
    """Part of a declared 50 000-byte body, then the connection closed: the API must log it and move on."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head(50_000) + b'{"orderId": "ORD-GONE", "pad": "' + b"x" * 10_000)


# --- the API process ---------------------------------------------------------------------------------------

def rss_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of ``pid`` in MB, from /proc/<pid>/status."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def wait_healthy(url: str, proc: subprocess.Popen, stderr: Path, timeout_s: float = 90) -> None:
    def healthy() -> bool:
        if proc.poll() is not None:
            raise SystemExit(f"labkit api exited with {proc.returncode}: {stderr.read_text()[-1500:]}")
        try:
            return httpx.get(url + "/health", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(healthy, timeout_s, "the API healthy (its consumer owning partitions)", interval_s=0.2)


# --- the classes -------------------------------------------------------------------------------------------

def post(http: httpx.Client, out: Outcome, body: bytes | object, headers: dict | None = None) -> None:
    try:
        r = http.post("/api/v1/orders", content=body, headers=headers or {})
    except httpx.HTTPError as exc:
        out.add(None, type(exc).__name__)
        return
    out.add(r.status_code)
    if r.status_code == 202:
        answer = r.json()
        out.records.append((answer["partition"], answer["offset"]))


def run_makers(http: httpx.Client, name: str, makers, n: int, rng: random.Random) -> Outcome:
    out = Outcome(name)
    for i in range(n):
        post(http, out, makers[i % len(makers)](i, rng), {"Content-Type": "application/json"} if i % 3 else {})
    return out


def run_headers(http: httpx.Client, port: int, n: int, rng: random.Random) -> Outcome:
    out = Outcome("headers")
    for i in range(n):
        body = dump({"orderId": oid("hdr", i), "amount": 3})
        if i % 4 == 3:  # every 4th input: raw HTTP no client library sends
            what, head = RAW_HEADERS[(i // 4) % len(RAW_HEADERS)]
            status = raw_request(port, head + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
            out.add(status, "closed without an answer")
            out.raw[what][status] += 1
            if status == 202:  # raw requests do not read the answer's body: recorded from the log end below
                out.records.append(None)
            continue
        post(http, out, body, HEADERS[i % len(HEADERS)](i, rng))
    return out


def run_large(http: httpx.Client, port: int, n: int, pid: int) -> tuple[Outcome, dict]:
    out = Outcome("large / slow bodies")
    over = b'{"orderId":"ORD-BIG","amount":1,"pad":"' + b"x" * MAX_BODY_BYTES + b'"}'

    def chunks():  # no Content-Length: the guard must count while it reads
        for k in range(0, len(over), 8192):
            yield over[k:k + 8192]

    before = rss_mb(pid)
    for i in range(n):
        post(http, out, over if i % 2 == 0 else chunks(), {"Content-Type": "application/json"})
    for _ in range(2):
        out.add(huge_stream(port), "closed during a 16 MB stream")
    slow_results: list[int | None] = []
    slow = [threading.Thread(target=lambda f=f: slow_results.append(f(port)), daemon=True)
            for f in (stalled_upload, stalled_upload, trickled_upload, trickled_upload)]
    for t in slow:
        t.start()
    aborted = 4
    for _ in range(aborted):
        aborted_upload(port)
        out.add(None, "aborted by the client (on purpose)")
    for t in slow:
        t.join(BODY_TIMEOUT_S + 30)
    for status in slow_results:
        out.add(status, "slow upload not answered")
    for _ in range(len(slow) - len(slow_results)):
        out.add(None, "slow upload thread stuck")
    after = rss_mb(pid)
    return out, {"before": before[0], "after": after[0], "peak": after[1], "aborted": aborted}


RAW_VALUES = [
    ("valid order", lambda i: (oid("raw", i).encode(), dump({"orderId": oid("raw", i), "amount": 4}), [])),
    ("bad header key", lambda i: (oid("rawhdr", i).encode(), dump({"orderId": oid("rawhdr", i), "amount": 4}),
                                  [("traceparent", b"00-abc"), (RawHeaderKey(BAD_KEY), b"v")])),
    ("not UTF-8", lambda i: (b"k", bytes([0xff, 0xfe, i % 256]) + b"{", [])),
    ("not JSON", lambda i: (b"k", b"{orderId: " + str(i).encode(), [])),
    ("empty value", lambda i: (b"k", b"", [])),
    ("null value", lambda i: (b"tombstone", None, [])),
    ("JSON not an object", lambda i: (b"k", b"[1, 2, 3]", [])),
    ("invalid order", lambda i: (b"k", dump({"orderId": oid("rawbad", i), "amount": -1}), [])),
    ("missing amount", lambda i: (b"k", dump({"orderId": oid("rawnoamt", i)}), [])),
    ("null key", lambda i: (None, dump({"orderId": oid("rawnull", i), "amount": 1}), [])),
    ("binary key, 0xff header value", lambda i: (b"\x00\xff", dump({"orderId": oid("rawbin", i), "amount": 1}),
                                                 [("x-raw", b"\xff\x00")])),
    ("duplicate orderId", lambda i: (b"k", dump({"orderId": oid("raw", 0), "amount": 4}), [])),
    ("100 headers", lambda i: (b"k", dump({"orderId": oid("rawmany", i), "amount": 1}),
                               [(f"h{j}", b"v") for j in range(100)])),
]


def run_raw(settings, n: int) -> Outcome:
    out = Outcome("raw records (no API)")
    producer = clients.producer(settings)
    try:
        futures = []
        for i in range(n):
            key, value, headers = RAW_VALUES[i % len(RAW_VALUES)][1](i)
            futures.append(producer.send(settings.orders_topic, key=key, value=value, headers=headers))
        # once per run: ~900 KB not UTF-8 (its base64 DLT copy would pass the broker's 1 MB limit)
        futures.append(producer.send(settings.orders_topic, key=b"big", value=b"\xff" * 900_000))
        for future in futures:
            md = future.get(timeout=30)
            out.inputs += 1
            out.records.append((md.partition, md.offset))
    finally:
        producer.close(timeout=5)
    return out


# --- where every record ended ------------------------------------------------------------------------------

def settle(settings, url: str, total: int, timeout_s: float) -> dict:
    """Wait until the API's group committed every partition to its end and its stats account for
    ``total`` records; returns the last stats."""
    seen: dict = {}

    def done() -> bool:
        stats = httpx.get(url + "/api/v1/stats", timeout=10).json()
        seen.update(stats)
        ends = log_end_offsets(settings, settings.orders_topic)
        committed = committed_offsets(settings, topics=settings.orders_topic)
        handled = stats["processed"] + stats["duplicates"] + stats["dlt"]["total"]
        return handled >= total and all((committed.get(tp) or 0) >= end for tp, end in ends.items())

    def describe() -> str:
        return (f"processed {seen.get('processed')}, duplicates {seen.get('duplicates')}, "
                f"DLT {seen.get('dlt', {}).get('total')} of {total}")

    try:
        wait_until(done, timeout_s, "every record processed or in the DLT, committed", interval_s=0.5,
                   describe=describe)
    except WaitTimeout as exc:
        log(f"NOT SETTLED: {exc}")
    return seen


def account(settings, outcomes: list[Outcome], stats: dict) -> dict:
    """Each record of each class -> processed / DLT / lost; the counts checked against the API's stats."""
    dlt = {(e.envelope.original_partition, e.envelope.original_offset)
           for e in read_dlt(settings, timeout_s=60)
           if e.envelope.original_topic == settings.orders_topic}
    committed = {tp.partition: off or 0
                 for tp, off in committed_offsets(settings, topics=settings.orders_topic).items()}
    # raw HTTP requests do not read their answer's coordinates: the records no class claims are theirs
    claimed = {at for o in outcomes for at in o.records if at is not None}
    ends = log_end_offsets(settings, settings.orders_topic)
    unclaimed = sorted((tp.partition, off) for tp, end in ends.items() for off in range(end)
                       if (tp.partition, off) not in claimed)
    for o in outcomes:
        o.records = [at for at in o.records if at is not None] + [unclaimed.pop(0) for _ in
                                                                   range(o.records.count(None)) if unclaimed]
        for partition, offset in o.records:
            if (partition, offset) in dlt:
                o.ended["DLT"] += 1
            elif offset < committed.get(partition, 0):  # committed only once its outcome was durable
                o.ended["processed"] += 1
            else:
                o.ended["lost"] += 1
    processed = sum(o.ended["processed"] for o in outcomes)
    handled = stats.get("processed", 0) + stats.get("duplicates", 0)
    return {"processed": processed, "stats_handled": handled, "dlt_records": len(dlt),
            "stats_dlt": stats.get("dlt", {}).get("total", 0), "shortfall": max(0, processed - handled),
            "unclaimed_left": len(unclaimed)}


def restarts_from_log(text: str) -> tuple[int, int]:
    """(restart-loop lines "consumer stopped: ...", starts of the consumer "processor ... started")."""
    return (len(re.findall(r"consumer stopped: ", text)),
            len(re.findall(r"processor \S+ started: ", text)))


# --- main --------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="inputs per class (default 200: about a minute)")
    parser.add_argument("--engine", default="kafka", choices=["kafka", "embedded"])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--settle-timeout", type=float, default=90.0,
                        help="cap on the wait for every record processed or in the DLT (default 90)")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    state = private_state_dir("labkit-hostile-")
    settings = load(bootstrap_servers=f"127.0.0.1:{free_port()}")
    t0 = time.monotonic()
    info = broker.up(args.engine, settings=settings)
    log(f"{args.engine} broker ready in {time.monotonic() - t0:.1f} s ({info})")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api_log, api_err = state / "api.log", state / "api.stderr"
    proc = None
    start = time.monotonic()
    try:
        topics.create(settings)
        with api_err.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "labkit.cli", "--bootstrap-server", settings.bootstrap_servers, "api",
                 "--port", str(port), "--log-file", str(api_log)],
                stdout=subprocess.DEVNULL, stderr=err)
        wait_healthy(url, proc, api_err)
        with httpx.Client(base_url=url, timeout=15) as http:
            outcomes = []
            for name, run in (("body shape", lambda: run_makers(http, "body shape", BODY_SHAPES, args.n, rng)),
                              ("encodings", lambda: run_makers(http, "encodings", ENCODINGS, args.n, rng)),
                              ("headers", lambda: run_headers(http, port, args.n, rng))):
                log(f"{name}: {args.n} inputs")
                outcomes.append(run())
            log(f"large / slow bodies: {args.n} just over {MAX_BODY_BYTES} bytes, 2 x 16 MB, 4 slow, 4 aborted")
            large, rss = run_large(http, port, args.n, proc.pid)
            outcomes.append(large)
        log(f"raw records: {args.n} + 1 of ~900 KB")
        outcomes.append(run_raw(settings, args.n))
        total = sum(len(o.records) for o in outcomes)
        log(f"waiting for {total} records to settle")
        stats = settle(settings, url, total, args.settle_timeout)
        checks = account(settings, outcomes, stats)
        final = httpx.get(url + "/api/v1/stats", timeout=10).json()
        alive = proc.poll() is None
    finally:
        stop_process(proc)
        broker.down(settings=settings)
        if args.engine == "kafka":
            broker.reset(settings=settings)
    took = time.monotonic() - start

    # the log file has every log line once (the console has them too); stderr also has what bypasses logging
    text = api_log.read_text(errors="replace")
    stopped, starts = restarts_from_log(text)
    restarts = max(stopped, starts - 1)
    tracebacks = api_err.read_text(errors="replace").count("Traceback (most recent call last)")
    logged_aborts = text.count("disconnected during the upload")
    consumer = (final.get("consumers") or [{}])[0]

    print(f"### Hostile input: {args.n} inputs per class, engine {args.engine}, `labkit api` as a process "
          f"(pause mode), {took:.0f} s\n")
    print("| class | inputs | 2xx | 4xx | 5xx | no answer | statuses | records | processed | DLT | lost |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for o in outcomes:
        http_cols = ("-", "-", "-", "-", "-") if o.name.startswith("raw") else (
            o.band(2), o.band(4), o.band(5), o.statuses[None],
            " ".join(f"{s}:{n}" for s, n in sorted((s, n) for s, n in o.statuses.items() if s is not None)))
        print(f"| {o.name} | {o.inputs} | " + " | ".join(str(c) for c in http_cols)
              + f" | {len(o.records)} | {o.ended['processed']} | {o.ended['DLT']} | {o.ended['lost']} |")
    fives = sum(o.band(5) for o in outcomes)
    lost = sum(o.ended["lost"] for o in outcomes) + checks["shortfall"]
    growth = rss["after"] - rss["before"]
    print()
    why = "; ".join(f"{why} {n}" for o in outcomes for why, n in sorted(o.no_answer.items())) or "none"
    print(f"- no answer: {why}; aborted uploads logged by the API: {logged_aborts}/{rss['aborted']}")
    raw = "; ".join(f"{what} {' '.join(f'{s}:{n}' for s, n in c.items())}" for o in outcomes
                    for what, c in o.raw.items())
    print(f"- raw HTTP requests (headers class), status:count: {raw}")
    print(f"- records checked against the API's stats: processed {checks['processed']} by offsets, "
          f"{checks['stats_handled']} by /api/v1/stats (processed + duplicates); DLT {checks['dlt_records']} "
          f"read back, {checks['stats_dlt']} by stats; records on orders no input claims: {checks['unclaimed_left']}")
    print(f"- consumer restarts: {restarts} (\"consumer stopped\" lines {stopped}, consumer starts {starts}); "
          f"at the end running={consumer.get('running')}, error={consumer.get('error')}; API process alive: {alive}")
    print(f"- API RSS: {rss['before']:.1f} MB before the large-body class, {rss['after']:.1f} MB after "
          f"({growth:+.1f} MB), peak {rss['peak']:.1f} MB; tracebacks in the API's output: {tracebacks}")
    goals = [("no 5xx", fives == 0, f"{fives}"), ("lost 0", lost == 0, f"{lost}"),
             ("restarts 0", restarts == 0 and alive, f"{restarts}"),
             (f"RSS growth < {RSS_GOAL_MB} MB", growth < RSS_GOAL_MB, f"{growth:+.1f} MB"),
             ("no traceback", tracebacks == 0, f"{tracebacks}")]
    print("\n**Goals:** " + " · ".join(f"{name} ({seen}): {'PASS' if ok else '**FAIL**'}" for name, seen, ok
                                      in ((g[0], g[2], g[1]) for g in goals)))
    if not all(ok for _, ok, _ in goals):
        keep(state)
        log(f"FAIL: the API's logs are kept in {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
