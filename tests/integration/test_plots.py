"""Every plot renders a non-empty figure from the events of a short real run, and saves a PNG."""

from __future__ import annotations

import pytest

from labkit.events import EventLog
from labkit.group.supervisor import ConsumerGroup
from labkit.kafka.producer import produce_orders
from labkit.observe import monitor, plots
from labkit.observe.lag import LagSampler
from labkit.orders import Order
from labkit.scenarios.assignors import short_session
from tests.integration.conftest import produce

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def run(broker_settings, tmp_path_factory):
    """2 consumers (threads) with a flaky order service (each order fails once, then succeeds),
    a few invalid orders (-> DLT), then a 3rd consumer joins; lag sampled all along."""
    from labkit.kafka import topics

    settings = broker_settings.with_prefix("plots-").replace(fast=True)
    session, heartbeat = short_session(settings)
    settings = settings.replace(session_timeout_ms=session, heartbeat_interval_ms=heartbeat)
    topics.create(settings)
    events = EventLog()
    try:
        with LagSampler(settings, interval_s=0.3) as sampler, \
                ConsumerGroup(settings, events=events, processes=False, fail_first=1) as group:
            group.start(1)  # then a second one: see ConsumerGroup.start
            group.wait_for_assignment([settings.orders_partitions], timeout_s=30)
            group.add()
            group.wait_for_assignment([3, 3], timeout_s=30)
            ids = produce_orders(settings, 40, events, prefix="ORD-P")
            bad = [Order(f"ORD-BAD{i}", -i) for i in range(1, 5)]
            ids += produce(settings, [(o.order_id, o.to_json()) for o in bad], events)
            ids += produce(settings, [("NOT-JSON", b"{oops")], events)
            group.add()
            group.wait_for_assignment([2, 2, 2], timeout_s=30)
            group.wait_processed(ids, timeout_s=60)
            sampler.sample()
        yield {"events": events, "lag": sampler.frame(), "dlt": monitor.dlt_by_reason(settings),
               "out": tmp_path_factory.mktemp("plots")}
    finally:
        topics.delete(settings)


def _check(fig, path):
    assert fig.axes and fig.axes[0].has_data(), "empty figure"
    assert fig.axes[0].get_title()
    fig.savefig(path, dpi=80)
    assert path.stat().st_size > 5_000


def test_the_run_has_what_the_plots_need(run):
    stats = run["events"].stats()
    assert stats["retried"] >= 20 and stats["dlt"] == 5 and stats["assigned"] >= 3
    assert run["lag"]["lag"].notna().any()


def test_backoff_curves(run):
    _check(plots.backoff_curves(), run["out"] / "backoff_curves.png")


def test_planned_vs_actual(run):
    _check(plots.planned_vs_actual(run["events"].frame()), run["out"] / "planned_vs_actual.png")


def test_rebalance_gantt(run):
    fig = plots.rebalance_gantt(run["events"].frame())
    lanes = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert lanes == {"consumer-1", "consumer-2", "consumer-3", "no owner"}  # one lane each + the no-owner lane
    _check(fig, run["out"] / "rebalance_gantt.png")


def test_dlt_over_time(run):
    _check(plots.dlt_over_time(run["events"].frame()), run["out"] / "dlt_over_time.png")


def test_dlt_reasons(run):
    assert int(run["dlt"].sum()) == 5
    _check(plots.dlt_reasons(run["dlt"]), run["out"] / "dlt_by_reason.png")
    _check(plots.dlt_reasons(run["events"].frame()), run["out"] / "dlt_by_reason_events.png")


def test_lag_over_time(run):
    _check(plots.lag_over_time(run["lag"]), run["out"] / "lag_over_time.png")


def test_throughput(run):
    _check(plots.throughput(run["events"].frame(), bin_s=0.5), run["out"] / "throughput.png")


def test_draw_into_a_given_axes(run):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4))
    left, right = fig.subplots(1, 2)
    assert plots.throughput(run["events"].frame(), ax=left) is fig
    assert plots.planned_vs_actual(run["events"].frame(), ax=right) is fig
    assert left.has_data() and right.has_data()
