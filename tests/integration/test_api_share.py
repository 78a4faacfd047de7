"""The order API with a share-group consumer behind it (issue 21, item 5): the same endpoints and the
same failure switches, the broker retrying a RELEASE and dead-lettering to the share group's DLQ."""

from __future__ import annotations

import httpx
import pytest
from conftest import wait_until

from labkit.api.server import ApiServer
from labkit.events import Acknowledged, Processed, Received
from labkit.group.share import NO_SHARE_GROUPS, NotOnThisBroker
from labkit.kafka import topics
from labkit.kafka.share_groups import ShareGroupConfig, dlq_entries
from tests.conftest import ENGINE, free_port

pytestmark = pytest.mark.broker
needs_share_groups = pytest.mark.skipif(ENGINE == "embedded", reason="share groups need Apache Kafka 4.2+: "
                                        "the embedded broker (Tansu) has none")

# The module's Lab 3 switch, as its curl commands call it
TRANSIENT_ON = "/api/v1/config/simulate-transient-error?enabled=true"
TRANSIENT_OFF = "/api/v1/config/simulate-transient-error?enabled=false"
# 5 deliveries, so that an order made slow by latencyMs leaves time to switch the errors off between two
LIMIT = 5


@pytest.fixture
def share_api(settings):
    config = ShareGroupConfig.of(settings, delivery_limit=LIMIT)
    api = ApiServer(settings, port=0, consumer="share", share_config=config)
    try:
        yield api.start()
    finally:
        api.stop()
        topics.delete(settings, names=[config.dlq_topic])


def post_order(api: ApiServer, order_id: str, amount: float) -> dict:
    answer = httpx.post(api.url + "/api/v1/orders", json={"orderId": order_id, "amount": amount, "status": "PENDING"},
                        timeout=10)
    assert answer.status_code == 202, answer.text
    return answer.json()


def get(api: ApiServer, path: str) -> httpx.Response:
    return httpx.get(api.url + path, timeout=15)


def acks_of(api: ApiServer, order_id: str) -> list[tuple[str, int]]:
    return [(e.ack, e.delivery_count) for e in api.service.events.of(Acknowledged) if e.order_id == order_id]


@needs_share_groups
def test_the_api_and_its_switches_drive_a_share_consumer(settings, share_api):
    api = share_api
    config = api.service.consumer.config
    events = api.service.events
    dlq = config.dlq_topic

    health = wait_until(lambda: (r := get(api, "/health")).status_code == 200 and r.json(), 30, "health UP")
    assert health["status"] == "UP" and health["consumer"]["running"] is True
    assert health["consumer"]["group"] == config.group_id and health["consumer"]["partitions"] is None
    assert "no partition" in health["consumer"]["note"]

    # a valid order: ACCEPTed at its first delivery
    post_order(api, "ORD-1", 100)
    wait_until(lambda: get(api, "/api/v1/stats").json()["processed"] == 1, 30, "ORD-1 processed")
    assert acks_of(api, "ORD-1") == [("ACCEPT", 1)]

    # an invalid one: REJECTed, written to the share group's DLQ by the broker, counted by /dlt/count
    post_order(api, "ORD-INVALID", -50)
    count = wait_until(lambda: (c := get(api, "/api/v1/dlt/count").json())["count"] == 1 and c, 30,
                       "ORD-INVALID counted in the DLQ")
    assert count["topic"] == dlq and config.group_id in count["writtenBy"]
    assert acks_of(api, "ORD-INVALID") == [("REJECT", 1)]

    # transient errors on (the module's endpoint): RELEASEd, redelivered, dead-lettered at the limit
    on = httpx.post(api.url + TRANSIENT_ON, timeout=10).json()
    assert on["simulateTransientError"] is True and on["rate"] == 1.0
    post_order(api, "ORD-RETRY", 200)
    wait_until(lambda: "ORD-RETRY" in {d["key"] for d in dlq_entries(settings, dlq)}, 30, "ORD-RETRY in the DLQ")
    assert acks_of(api, "ORD-RETRY") == [("RELEASE", n) for n in range(1, LIMIT + 1)]

    # still on, each call slowed to 0.5 s: redelivered, then switched off in time, it is processed
    httpx.post(api.url + TRANSIENT_ON + "&latencyMs=500", timeout=10).raise_for_status()
    post_order(api, "ORD-RETRY-2", 300)
    wait_until(lambda: any(e.key == "ORD-RETRY-2" and e.attempt >= 2 for e in events.of(Received)), 30,
               "ORD-RETRY-2 delivered a second time")
    off = httpx.post(api.url + TRANSIENT_OFF, timeout=10).json()
    assert off["simulateTransientError"] is False
    wait_until(lambda: any(e.order_id == "ORD-RETRY-2" for e in events.of(Processed)), 30, "ORD-RETRY-2 processed")
    answers = acks_of(api, "ORD-RETRY-2")
    assert answers[-1][0] == "ACCEPT" and 2 <= answers[-1][1] < LIMIT, answers
    assert [a for a, _ in answers[:-1]] == ["RELEASE"] * (len(answers) - 1)

    # nothing lost: every order posted is processed or in the DLQ, and the API's figures say so
    posted = {"ORD-1", "ORD-INVALID", "ORD-RETRY", "ORD-RETRY-2"}
    entries = {d["key"]: d for d in dlq_entries(settings, dlq)}
    processed = {e.order_id for e in events.of(Processed)}
    assert processed == {"ORD-1", "ORD-RETRY-2"} and set(entries) == {"ORD-INVALID", "ORD-RETRY"}
    assert processed | set(entries) == posted
    assert (entries["ORD-INVALID"]["reason"], entries["ORD-INVALID"]["delivery_count"]) == (
        "rejected by the consumer", 1)
    assert (entries["ORD-RETRY"]["reason"], entries["ORD-RETRY"]["delivery_count"]) == ("delivery limit reached", LIMIT)
    stats = get(api, "/api/v1/stats").json()
    assert (stats["produced"], stats["processed"], stats["inFlight"], stats["notYetConsumed"]) == (4, 2, 0, 0)
    # a RELEASE is a retry, except the one at the limit: that one dead-letters (counted in "dlt")
    assert stats["retries"] == (LIMIT - 1) + (len(answers) - 1)
    assert stats["dlt"] == {"total": 2, "byReason": {"ValidationException": 1, "DeliveryLimitReached": 1}}
    [consumer] = stats["consumers"]
    assert consumer["mode"] == "share" and consumer["group"] == config.group_id and consumer["partitions"] is None
    assert consumer["acknowledgements"] == {"ACCEPT": 2, "RELEASE": LIMIT + len(answers) - 1, "REJECT": 1}
    assert stats["failureInjection"]["simulateTransientError"] is False
    by_reason = get(api, "/api/v1/dlt/count?byReason=true").json()
    assert by_reason["count"] == 2
    assert by_reason["byReason"] == {"rejected by the consumer": 1, "delivery limit reached": 1}

    # Lab 3's panel drives the same switches in-process: on, the next order is RELEASEd to the DLQ
    from labkit.notebook import FailurePanel

    panel = FailurePanel(api, live=False)
    try:
        panel.set(enabled=True)
        post_order(api, "ORD-PANEL", 50)
        wait_until(lambda: "ORD-PANEL" in {d["key"] for d in dlq_entries(settings, dlq)}, 30, "ORD-PANEL in the DLQ")
        assert acks_of(api, "ORD-PANEL") == [("RELEASE", n) for n in range(1, LIMIT + 1)]
        panel.set(enabled=False)
        assert get(api, "/api/v1/config").json()["simulateTransientError"] is False
    finally:
        panel.close()


def test_a_share_consumer_on_the_embedded_broker_fails_at_once_with_one_line(broker_settings, monkeypatch, capsys):
    """The embedded broker has no share groups: ApiServer and `labkit api --consumer share` say so in
    one line, before serving, and free their port. On Apache Kafka, the same check is made to answer
    "embedded" (it reads labkit's record of the broker it started)."""
    if ENGINE != "embedded":
        monkeypatch.setattr("labkit.broker.stuck_group.on_embedded_broker", lambda settings: True)
    port = free_port()
    with pytest.raises(NotOnThisBroker) as raised:
        ApiServer(broker_settings, port=port, consumer="share").start()
    assert str(raised.value) == NO_SHARE_GROUPS and "\n" not in NO_SHARE_GROUPS
    assert "labkit broker up --engine kafka" in NO_SHARE_GROUPS
    ApiServer(broker_settings, port=port, consume=False).start().stop()  # the port was freed

    from labkit.cli import main

    code = main(["--bootstrap-server", broker_settings.bootstrap_servers, "api", "--consumer", "share",
                 "--port", str(port), "--log-file", ""])
    err = capsys.readouterr().err.strip()
    assert code == 1 and err == f"labkit api: error: {NO_SHARE_GROUPS}"
