"""Bad-input campaign: generated payloads into ``orders`` and into the API, on a real broker.

* **orders**: hypothesis generates batches of records - not UTF-8, not JSON, empty, JSON that is not
  an object, missing / wrong-typed / out-of-range fields, extra fields, duplicate order ids, null
  keys - and one :class:`~labkit.engine.processor.OrderProcessor` consumes them all. It never crashes or
  stalls; each record ends processed (duplicates flagged) or in the DLT with an ``errorMessage``
  that names the problem (the expectation is written here per category, independently of
  :mod:`labkit.orders`); the DLT keeps the original bytes; every offset is committed.
* **~1 MB values**: fit the producer's ``max_request_size`` (1 MiB) and the brokers; their DLT copy
  would not (base64 makes 1 MB into 1.3 MB), so the processor keeps a truncated copy, flagged. A
  2 MB record is refused by the producer (both engines); with a larger ``max_request_size`` the
  embedded broker takes it (no size limit) and Apache Kafka refuses it (``message.max.bytes``).
* **API**: generated bodies get 4xx with a message, never 5xx; a ~1 MB body is 413 before Kafka is
  touched; accepted orders end processed or in the DLT (amount <= 0, unknown status).
"""

from __future__ import annotations

import json
import logging
import string
import time

import httpx
import pytest
from hypothesis import HealthCheck, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from kafka import TopicPartition
from kafka.errors import MessageSizeTooLargeError

from labkit.api.server import ApiServer
from labkit.api.validation import MAX_BODY_BYTES
from labkit.dlt.envelope import H_VALUE_TRUNCATED
from labkit.dlt.read import read_dlt
from labkit.engine.injection import FailureInjector
from labkit.engine.processor import OrderProcessor
from labkit.events import EventLog
from labkit.kafka import clients
from labkit.kafka.offsets import committed_offsets, log_end_offsets
from labkit.orders import STATUSES
from tests.integration.conftest import ENGINE, quick_policy, wait_assigned, wait_until

pytestmark = pytest.mark.broker

EXAMPLES = 50
CAMPAIGN = hyp_settings(max_examples=EXAMPLES, deadline=None, database=None,
                        suppress_health_check=list(HealthCheck))

MALFORMED, INVALID = "MalformedPayloadException", "ValidationException"

# --- generated payloads: (category, value bytes, expected DLT reason or None, words in errorMessage) ----

def txt(**kwargs):
    """Text that UTF-8 can encode (no lone surrogates)."""
    return st.text(st.characters(blacklist_categories=("Cs",)), **kwargs)


POOL = [f"ORD-DUP-{i}" for i in range(5)]  # drawn often: duplicates are frequent
order_ids = st.sampled_from(POOL) | st.text(string.ascii_letters + string.digits + "-_é", min_size=1, max_size=12)
good_amounts = st.integers(1, 10**9) | st.floats(0.01, 1e9, allow_nan=False, allow_infinity=False)
scalars = st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False, allow_infinity=False) \
    | txt(max_size=8)
json_values = st.recursive(scalars, lambda c: st.lists(c, max_size=3) | st.dictionaries(txt(max_size=5), c, max_size=3),
                           max_leaves=6)
extras = st.dictionaries(txt(max_size=8).filter(lambda k: k not in ("orderId", "amount", "status")), json_values,
                         max_size=3)
texts = txt(min_size=1, max_size=40)


def dump(value) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def is_json(text: str) -> bool:
    try:
        json.loads(text)
        return True
    except (ValueError, RecursionError):
        return False


def not_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return False
    except UnicodeDecodeError:
        return True


def order(oid, amount, status=None, extra=None) -> dict:
    body = dict(extra or {})
    body.update(orderId=oid, amount=amount)
    if status is not None:
        body["status"] = status
    return body


def case(category, value, reason=None, words=(), oid=None):
    return {"category": category, "value": value, "reason": reason, "words": tuple(words), "order_id": oid}


valid = st.builds(lambda oid, amt, status, extra: case("valid", dump(order(oid, amt, status, extra)), oid=oid),
                  order_ids, good_amounts, st.none() | st.sampled_from(STATUSES), extras)
bad_bytes = st.binary(min_size=1, max_size=64).filter(not_utf8).map(
    lambda b: case("not UTF-8", b, MALFORMED, ["payload is not valid UTF-8", "byte 0x"]))
bad_json = texts.filter(lambda t: t.strip() and not is_json(t)).map(
    lambda t: case("not JSON", t.encode("utf-8"), MALFORMED, ["payload is not JSON"]))
empty = st.sampled_from([b"", b" ", b"\n\t  "]).map(lambda b: case("empty", b, MALFORMED, ["empty payload"]))
not_object = (st.lists(scalars, max_size=3).map(lambda v: (v, "list")) | st.integers().map(lambda v: (v, "number"))
              | txt(max_size=8).map(lambda v: (v, "string")) | st.booleans().map(lambda v: (v, "boolean"))
              | st.just((None, "null"))).map(
    lambda vk: case("JSON not an object", dump(vk[0]), MALFORMED, [f"payload is a JSON {vk[1]}"]))
missing_id = st.builds(lambda amt, extra: case("orderId missing", dump({**extra, "amount": amt}), INVALID,
                                               ["orderId is missing"]), good_amounts, extras)
bad_id = st.builds(lambda oid, amt: case("orderId wrong type", dump({"orderId": oid, "amount": amt}), INVALID,
                                         ["orderId must be a non-empty string"]),
                   st.none() | st.integers() | st.booleans() | st.lists(st.integers(), max_size=2)
                   | st.sampled_from(["", "   "]), good_amounts)
missing_amount = st.builds(lambda oid, extra: case("amount missing", dump({**extra, "orderId": oid}), INVALID,
                                                   ["amount is missing"]), order_ids, extras)
bad_amount_type = st.builds(lambda oid, amt: case("amount wrong type", dump({"orderId": oid, "amount": amt}), INVALID,
                                                  ["amount must be a number"]),
                            order_ids,
                            st.none() | st.booleans() | txt(max_size=6) | st.lists(st.integers(), max_size=2))
bad_amount = st.builds(lambda oid, amt: case("amount <= 0", dump({"orderId": oid, "amount": amt}), INVALID,
                                             ["Invalid amount"]),
                       order_ids, st.integers(-10**9, 0) | st.floats(-1e9, 0, allow_nan=False))
bad_status = st.builds(lambda oid, amt, status: case("unknown status", dump({"orderId": oid, "amount": amt,
                                                                             "status": status}), INVALID,
                                                     ["Invalid status"]),
                       order_ids, good_amounts,
                       txt(max_size=10).filter(lambda s: s not in STATUSES) | st.integers() | st.none())
any_case = st.one_of(valid, valid, bad_bytes, bad_json, empty, not_object, missing_id, bad_id, missing_amount,
                     bad_amount_type, bad_amount, bad_status)
keys = st.none() | st.binary(max_size=12) | order_ids.map(str.encode)
batches = st.lists(st.tuples(keys, any_case), min_size=1, max_size=8)
# one record of each category the campaign must reach, whatever the random draws: one_of is not
# uniform in practice, and a 50-example run once drew no "not UTF-8" payload at all
SURE_BATCH = [(b"ORD-SURE-1", case("valid", dump(order("ORD-SURE-1", 10)), oid="ORD-SURE-1")),
              (None, case("not UTF-8", b"\xff\xfe{", MALFORMED, ["payload is not valid UTF-8", "byte 0x"])),
              (b"k", case("not JSON", b"{orderId:", MALFORMED, ["payload is not JSON"]))]


# --- helpers ----------------------------------------------------------------------------------------------


def terminal(events: EventLog) -> dict[tuple[int, int], list]:
    out: dict[tuple[int, int], list] = {}
    for e in events.of("Processed", "SentToDLT"):
        out.setdefault((e.partition, e.offset), []).append(e)
    return out


def all_committed(settings) -> bool:
    ends = log_end_offsets(settings, settings.orders_topic)
    committed = committed_offsets(settings, topics=settings.orders_topic)
    return all((committed.get(tp) or 0) >= end for tp, end in ends.items())


def raw_dlt(settings) -> list:
    """Every DLT record as kafka-python returns it (headers included)."""
    reader = clients.reader(settings, max_partition_fetch_bytes=4 * 1024 * 1024)
    try:
        tps = [TopicPartition(settings.dlt_topic, p) for p in sorted(reader.partitions_for_topic(settings.dlt_topic))]
        reader.assign(tps)
        reader.seek_to_beginning(*tps)
        out, deadline = [], time.monotonic() + 30
        while True:
            for records in reader.poll(timeout_ms=200).values():
                out.extend(records)
            if all(reader.highwater(tp) is not None and reader.position(tp) >= reader.highwater(tp) for tp in tps):
                return out
            assert time.monotonic() < deadline, "could not read the DLT to its end"
    finally:
        reader.close(autocommit=False)


@pytest.fixture
def processor(short):
    events = EventLog()
    proc = OrderProcessor(short, events=events, mode="pause", policy=quick_policy(), injector=FailureInjector())
    proc.start()
    wait_assigned(events, 60)
    yield proc
    proc.stop(timeout_s=30)


# --- the campaign into `orders` ---------------------------------------------------------------------------


def test_generated_records_end_processed_or_in_the_dlt_with_a_precise_reason(short, processor):
    settings, events = short, processor.events
    producer = clients.producer(settings)
    seen_ids: set[str] = set()
    sent: dict[tuple[int, int], dict] = {}
    categories: set[str] = set()

    @CAMPAIGN
    @given(batch=batches)
    @example(batch=SURE_BATCH)
    def campaign(batch):
        futures = [(key, c, producer.send(settings.orders_topic, key=key, value=c["value"])) for key, c in batch]
        coords = []
        for key, c, future in futures:
            md = future.get(timeout=10)
            sent[(md.partition, md.offset)] = c | {"key": key}
            coords.append((md.partition, md.offset))
            categories.add(c["category"])
        done = wait_until(lambda: (lambda t: t if all(x in t for x in coords) else None)(terminal(events)), 20,
                          f"{len(coords)} generated records handled (a stall?)")
        firsts: dict[str, int] = {}  # order id -> non-duplicate processings in this batch
        for (_key, c, _), at in zip(futures, coords, strict=True):
            outcome = done[at]
            assert len(outcome) == 1, (c, outcome)  # one record, one end
            e = outcome[0]
            if c["reason"] is None:
                assert e.kind == "Processed" and e.order_id == c["order_id"], (c, e)
                firsts[e.order_id] = firsts.get(e.order_id, 0) + (not e.duplicate)
            else:
                assert e.kind == "SentToDLT" and e.reason == c["reason"], (c, e)
                assert all(w in e.error_message for w in c["words"]), (c["category"], c["value"][:80], e.error_message)
        # partitions run in any order: per order id, exactly one first processing ever, the rest duplicates
        for oid, n in firsts.items():
            assert n == (0 if oid in seen_ids else 1), (oid, n, "duplicate flags")
        seen_ids.update(firsts)
        assert processor.error is None and processor.running, processor.error

    try:
        campaign()
    finally:
        producer.close(timeout=5)

    assert {"valid", "not UTF-8", "not JSON"} <= categories, categories
    # the DLT on the broker: one record per rejected input, original bytes kept, the same precise reason
    expected = {at: c for at, c in sent.items() if c["reason"] is not None}
    entries = read_dlt(settings, timeout_s=30)
    by_origin = {(e.envelope.original_partition, e.envelope.original_offset): e for e in entries}
    assert len(entries) == len(by_origin) == len(expected), (len(entries), len(expected))
    for at, c in expected.items():
        entry = by_origin[at]
        assert entry.envelope.raw_value == c["value"], c
        assert entry.key == c["key"], (entry.key, c["key"])
        assert entry.envelope.error_type == c["reason"] and all(w in entry.envelope.error_message for w in c["words"])
        assert entry.headers["kafka_dlt-exception-message"] == entry.envelope.error_message
    wait_until(lambda: all_committed(settings), 30, "every offset committed")
    stats = events.stats()
    assert stats["processed"] + stats["duplicates"] + stats["dlt"] == len(sent), stats


# --- ~1 MB values, and what happens above the limits ------------------------------------------------------


def test_one_megabyte_values_and_records_above_the_limit(short, processor, caplog):
    settings, events = short, processor.events
    caplog.set_level(logging.WARNING, logger="labkit")
    big_bytes = b"\xff" * 1_000_000  # poison, not UTF-8: its DLT copy (base64) would be 1.3 MB
    big_text = b"y" * 1_000_000  # poison, UTF-8 but not JSON
    pad = "x" * (1_000_000 - 60)
    big_order = dump({"orderId": "ORD-BIG", "amount": 5, "pad": pad})  # valid, with a huge extra field
    producer = clients.producer(settings)
    try:
        sent = {}
        for key, value in ((b"big-bytes", big_bytes), (b"big-text", big_text), (b"ORD-BIG", big_order)):
            md = producer.send(settings.orders_topic, key=key, value=value).get(timeout=30)
            sent[(md.partition, md.offset)] = (key, value)
        # 2 MB: the producer refuses it before the network (max_request_size 1 MiB): it never enters
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(settings.orders_topic, key=b"huge", value=b"z" * 2_000_000).get(timeout=30)
    finally:
        producer.close(timeout=5)
    # with a larger max_request_size: the embedded broker has no size limit, Apache Kafka refuses
    wide = clients.producer(settings, max_request_size=5_000_000)
    try:
        if ENGINE == "embedded":
            md = wide.send(settings.orders_topic, key=b"huge", value=b"\xfe" * 2_000_000).get(timeout=30)
            sent[(md.partition, md.offset)] = (b"huge", b"\xfe" * 2_000_000)
        else:
            with pytest.raises(MessageSizeTooLargeError):
                wide.send(settings.orders_topic, key=b"huge", value=b"\xfe" * 2_000_000).get(timeout=30)
    finally:
        wide.close(timeout=5)

    done = wait_until(lambda: (lambda t: t if all(x in t for x in sent) else None)(terminal(events)), 60,
                      "the big records handled")
    assert processor.error is None and processor.running, processor.error
    outcome = {sent[at][0]: done[at][0] for at in sent}
    assert outcome[b"ORD-BIG"].kind == "Processed" and outcome[b"ORD-BIG"].order_id == "ORD-BIG"
    assert outcome[b"big-bytes"].kind == "SentToDLT" and "not valid UTF-8" in outcome[b"big-bytes"].error_message
    assert outcome[b"big-text"].kind == "SentToDLT" and "not JSON" in outcome[b"big-text"].error_message

    records = {r.key: r for r in raw_dlt(settings)}
    for key in [k for k, _ in sent.values() if k != b"ORD-BIG"]:
        record, original = records[key], next(v for k, v in sent.values() if k == key)
        envelope = json.loads(record.value)
        headers = dict(record.headers)
        size = len(record.value) + len(record.key) + sum(len(k) + len(v) for k, v in record.headers)
        assert size < 1_048_576  # fits the producer's max_request_size and Kafka's message.max.bytes
        assert envelope["errorMessage"] and envelope["errorType"] == MALFORMED
        if envelope.get("originalValueTruncated"):  # flagged, with the true size; the full value stays at source
            assert envelope["originalValueBytes"] == len(original) == int(headers[H_VALUE_TRUNCATED])
        else:
            assert envelope["originalValue"].encode() == original and H_VALUE_TRUNCATED not in headers
    assert json.loads(records[b"big-bytes"].value)["originalValueTruncated"] is True
    wait_until(lambda: all_committed(settings), 30, "every offset committed")
    # the truncated copy is said once, as a WARNING; no "DLT write FAILED … stays uncommitted" before it
    logged = [(r.levelname, r.getMessage()) for r in caplog.records if r.name.startswith("labkit")]
    assert not [m for level, m in logged if level == "ERROR"], logged
    assert any("too large for the DLT" in m for _, m in logged), logged


# --- the API ----------------------------------------------------------------------------------------------

api_bodies = st.one_of(
    valid.map(lambda c: c["value"]), bad_bytes.map(lambda c: c["value"]), bad_json.map(lambda c: c["value"]),
    empty.map(lambda c: c["value"]), not_object.map(lambda c: c["value"]), missing_id.map(lambda c: c["value"]),
    bad_id.map(lambda c: c["value"]), missing_amount.map(lambda c: c["value"]),
    bad_amount_type.map(lambda c: c["value"]), bad_amount.map(lambda c: c["value"]),
    bad_status.map(lambda c: c["value"]), st.binary(max_size=100), json_values.map(dump),
)


def test_api_answers_4xx_with_a_message_never_5xx_and_accepted_orders_settle(short):
    accepted: dict[tuple[int, int], bytes] = {}
    statuses: set[int] = set()
    with ApiServer(short, port=0, policy=quick_policy(), mode="pause") as api, \
            httpx.Client(base_url=api.url, timeout=15) as client:
        service = api.service
        wait_until(lambda: service.processor.assignment, 60, "the API's consumer owning partitions")

        @CAMPAIGN
        @given(body=api_bodies, content_type=st.sampled_from(["application/json", "text/plain", None]))
        def post(body, content_type):
            headers = {"Content-Type": content_type} if content_type else {}
            r = client.post("/api/v1/orders", content=body, headers=headers)
            statuses.add(r.status_code)
            assert r.status_code < 500, (body[:80], r.text)
            answer = r.json()
            if content_type == "text/plain":  # what a cross-site form can send: refused before reading
                assert r.status_code == 415 and answer["error"] == "unsupported_media_type", r.text
            elif r.status_code == 202:
                accepted[(answer["partition"], answer["offset"])] = body
            else:
                assert r.status_code in (400, 413, 422), r.text
                assert answer["error"] and answer["message"].strip(), answer

        post()
        for size in (MAX_BODY_BYTES + 1, 1_000_000):  # ~1 MB: refused before Kafka is touched
            r = client.post("/api/v1/orders", content=dump({"orderId": "ORD-HUGE", "amount": 1, "pad": "x" * size}))
            assert r.status_code == 413 and r.json()["error"] == "payload_too_large", r.text
            assert str(MAX_BODY_BYTES) in r.json()["message"]

        assert {202, 415} <= statuses and statuses & {400, 422}, statuses
        done = wait_until(lambda: (lambda t: t if all(x in t for x in accepted) else None)(terminal(service.events)),
                          30, "every accepted order handled by the API's consumer")
        for at, body in accepted.items():
            e = done[at][0]
            data = json.loads(body)
            if e.kind == "SentToDLT":  # accepted by shape, refused by the business rules
                assert e.reason == INVALID and ("Invalid amount" in e.error_message
                                                or "Invalid status" in e.error_message), (data, e)
            else:
                assert e.order_id == data["orderId"]
        assert service.processor.error is None and service.processor.running
    assert sum(log_end_offsets(short, short.orders_topic).values()) == len(accepted)  # rejected: nothing written
