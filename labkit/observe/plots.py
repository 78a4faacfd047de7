"""The course's plots. Every function takes its data (plus ``ax=None``) and returns the Figure.

They read only plain data - an :meth:`EventLog.frame() <labkit.events.EventLog.frame>`, a
:class:`~labkit.observe.lag.LagSampler` frame, a DLT count Series - so a notebook can redraw them at any
time. Pass ``ax`` to draw into your own subplot; no ``plt.show()`` here (Jupyter shows the
returned Figure; scripts call ``fig.savefig``). Figures are built as bare
``matplotlib.figure.Figure`` objects, not through pyplot, so they need no GUI backend and are not
displayed twice in a notebook. Times are shown in seconds since the first event.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from labkit.lang import tr

__all__ = ["backoff_curves", "planned_vs_actual", "rebalance_gantt", "dlt_over_time", "dlt_reasons",
           "lag_over_time", "throughput", "share_deliveries"]

MARKER_STYLE = {  # marker kind -> (matplotlib marker, colour, legend label)
    "join": ("^", "tab:green", "join"),
    "leave": ("s", "tab:blue", "clean leave (SIGTERM)"),
    "crash": ("X", "tab:red", "crash (SIGKILL)"),
    "lost": ("v", "tab:orange", "lost (kicked out)"),
    "stopped": ("o", "tab:gray", "stopped"),
}


def _marker_label(kind: str) -> str:
    """MARKER_STYLE's legend label in the student's language (translated when drawn, not at import)."""
    return {"join": tr("join"), "leave": tr("clean leave (SIGTERM)"), "crash": tr("crash (SIGKILL)"),
            "lost": tr("lost (kicked out)"), "stopped": tr("stopped")}.get(kind, kind)


def _axes(ax: Any, figsize: tuple[float, float] = (9, 4.5)) -> tuple[Figure, Any]:
    if ax is None:  # a bare Figure (not pyplot's): no backend needed, no double display in Jupyter
        fig = Figure(figsize=figsize, layout="constrained")
        return fig, fig.subplots()
    return ax.figure, ax


def _empty(ax: Any, title: str, message: str) -> Figure:
    ax.set_title(title)
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax.figure


def _kind(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    if frame is None or len(frame) == 0 or "kind" not in frame:
        return pd.DataFrame(columns=["kind", "ts", "consumer"])
    return frame[frame["kind"] == kind]


def _t0(frame: pd.DataFrame) -> float:
    return float(frame["ts"].astype(float).min()) if frame is not None and len(frame) and "ts" in frame else 0.0


# --- retries ---------------------------------------------------------------------------------------


def backoff_curves(strategies: Mapping[str, Any] | None = None, n: int = 8, seeds: Iterable[int] = range(200),
                   ax: Any = None, yscale: str = "symlog", ymax: float | None = None) -> Figure:
    """Planned delay before retry 1..n for each strategy (default: the module's four,
    :data:`labkit.policy.wait.WAIT_STRATEGIES`). Jittered strategies show their median as a line and the
    band between the smallest and the largest delay drawn over ``seeds``. Symlog y axis by default: 0 s
    (immediate) and 128 s (exponential) on one chart; ``yscale="linear"`` where the point is near a cap
    (a band of 240-360 s and a line at 300 s look alike on a log axis), with ``ymax`` to zoom on it."""
    from labkit.policy.wait import WAIT_STRATEGIES

    fig, ax = _axes(ax)
    strategies = dict(strategies) if strategies is not None else {name: f() for name, f in WAIT_STRATEGIES.items()}
    seeds = list(seeds)
    attempts = np.arange(1, n + 1)
    styles = [("-", "o"), ("--", "s"), ("-.", "D"), (":", "^")]
    colors = mpl.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (name, wait) in enumerate(strategies.items()):
        color, (ls, marker) = colors[k % len(colors)], styles[k % len(styles)]
        wait = wait() if isinstance(wait, type) or (callable(wait) and not hasattr(wait, "schedule")) else wait
        runs = np.array([wait.schedule(n, seed) for seed in seeds])
        median = np.median(runs, axis=0)
        jittered = bool(np.any(runs.max(axis=0) - runs.min(axis=0) > 1e-9))
        ax.plot(attempts, median, marker=marker, ls=ls, color=color, lw=2, markersize=7 if jittered else 9,
                label=tr("{name} (median)").format(name=name) if jittered else name, zorder=3 if jittered else 2)
        low, high = runs.min(axis=0), runs.max(axis=0)
        if jittered:
            ax.fill_between(attempts, low, high, color=color, alpha=0.25, lw=0,
                            label=tr("{name}: jitter range ({seeds} seeds)").format(name=name, seeds=len(seeds)))
    if yscale == "symlog":
        ax.set_yscale("symlog", linthresh=0.1, linscale=0.5)
    else:
        ax.set_yscale(yscale)
        ax.set_ylim(bottom=0)
    if ymax is not None:
        ax.set_ylim(top=ymax)
    ax.set_xticks(attempts)
    ax.set_xlabel(tr("retry number"))
    ax.set_ylabel(tr("delay before the retry (s, {yscale} scale)").format(yscale=yscale))
    ax.set_title(tr("Backoff strategies: planned delay per retry"))
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", fontsize="small")
    return fig


def planned_vs_actual(events_frame: pd.DataFrame, ax: Any = None) -> Figure:
    """Each ``Retried`` event: the planned backoff against the delay that really elapsed. Points on
    the diagonal are on time; above it, late (a slow poll loop, a rebalance)."""
    fig, ax = _axes(ax, (6.5, 5.5))
    title = tr("Retry delays: planned vs actual")
    df = _kind(events_frame, "Retried")
    if df.empty:
        return _empty(ax, title, tr("no Retried events yet"))
    planned, actual = df["planned_delay_s"].astype(float), df["actual_delay_s"].astype(float)
    attempts = df["attempt"].astype(int)
    for attempt in sorted(attempts.unique()):
        sel = attempts == attempt
        ax.scatter(planned[sel], actual[sel], s=30, alpha=0.75, label=tr("retry {attempt}").format(attempt=attempt))
    top = float(max(planned.max(), actual.max())) * 1.1 or 1.0
    ax.plot([0, top], [0, top], color="gray", ls="--", lw=1, label=tr("actual = planned"))
    late = (actual - planned).median()
    ax.set_xlim(0, top)
    ax.set_ylim(0, top)
    ax.set_xlabel(tr("planned delay (s)"))
    ax.set_ylabel(tr("actual delay (s)"))
    ax.set_title(tr("{title} ({n} retries, median lateness {ms:.0f} ms)").format(title=title, n=len(df),
                                                                                 ms=late * 1000))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return fig


# --- rebalances ------------------------------------------------------------------------------------


def rebalance_gantt(events_frame: pd.DataFrame, ax: Any = None, topic: str | None = None) -> Figure:
    """One lane per consumer; inside it one thin bar per partition while the consumer owns it
    (colour = partition); markers for join / clean leave / crash; a bottom lane ``no owner`` with a
    hatched bar per partition while nobody owns it (eager strategies: all of them at every
    rebalance; cooperative: only the ones that move); red shading while at least one partition has
    no owner (the pause of each rebalance), labelled with its trigger and longest gap."""
    from labkit.observe.timeline import Timeline

    title = tr("Consumer group: who owns which partition")
    tl = Timeline(events_frame)
    iv, marks, gaps = tl.intervals(), tl.markers(), tl.gaps()
    consumers = sorted(set(iv["consumer"]) | set(marks["consumer"]))
    fig, ax = _axes(ax, (10, 2.0 + 1.0 * max(2, len(consumers))))
    if not consumers:
        return _empty(ax, title, tr("no consumer events yet"))
    if topic is not None:
        iv, gaps = iv[iv["topic"] == topic], gaps[gaps["topic"] == topic]
    t0, t_end = _t0(events_frame), tl.end_ts
    owned = set(zip(iv["topic"], iv["partition"], strict=True))
    parts = sorted(owned | set(zip(gaps["topic"], gaps["partition"], strict=True)))
    slot = {tp: k for k, tp in enumerate(parts)}
    colors = mpl.colormaps.get_cmap("tab10" if len(parts) <= 10 else "tab20")
    lane_h = 0.8
    row_h = lane_h / max(1, len(parts))
    lane = {c: k for k, c in enumerate(consumers)}

    # shaded no-owner periods, one per rebalance; labels skipped where they would collide
    span_s = max(t_end - t0, 1e-9)
    last_label_x = [-math.inf, -math.inf]  # two label rows, so close rebalances both get a label
    for number, g in gaps.groupby("rebalance"):
        start = float(g["unowned_from"].min()) - t0
        end = float(g["unowned_to"].max() if g["unowned_to"].notna().all() else t_end) - t0
        ax.axvspan(start, end, color="tab:red", alpha=0.10, lw=0)
        longest = g["gap_s"].max()
        x = (start + end) / 2
        row = 0 if x - last_label_x[0] >= x - last_label_x[1] else 1
        if x - last_label_x[row] < 0.16 * span_s:
            continue
        last_label_x[row] = x
        trigger = g["trigger"].iloc[0]
        label = tr("#{number} {trigger}\nmax gap {gap:.1f}s").format(number=number, trigger=trigger, gap=longest) \
            if pd.notna(longest) else tr("#{number} {trigger}\n(no owner since)").format(number=number, trigger=trigger)
        ha = "left" if x < 0.08 * span_s else "right" if x > 0.92 * span_s else "center"
        x = max(start, 0.0) if ha == "left" else end if ha == "right" else x
        ax.text(x, len(consumers) - 0.45 + 0.3 * row, label, ha=ha, va="bottom",
                fontsize="x-small", color="darkred", clip_on=True)

    # the "no owner" lane: one hatched bar per partition while it had no owner
    for row in gaps.itertuples(index=False):
        start = row.unowned_from - t0
        end = (t_end if pd.isna(row.unowned_to) else row.unowned_to) - t0
        y0 = -1 - lane_h / 2 + slot[(row.topic, row.partition)] * row_h
        color = colors(slot[(row.topic, row.partition)] % colors.N)
        ax.broken_barh([(start, max(end - start, 1e-3))], (y0, row_h * 0.9), facecolor=color, alpha=0.45,
                       edgecolor="darkred", hatch="////", lw=0.3)

    for row in iv.itertuples(index=False):
        y0 = lane[row.consumer] - lane_h / 2 + slot[(row.topic, row.partition)] * row_h
        end = (t_end if pd.isna(row.end) else row.end) - t0
        start = row.start - t0
        ax.broken_barh([(start, max(end - start, 1e-3))], (y0, row_h * 0.9),
                       color=colors(slot[(row.topic, row.partition)] % colors.N))
        if end - start > 0.06 * max(t_end - t0, 1e-9) and row_h > 0.08:
            ax.text(start + 0.1, y0 + row_h * 0.45, f"P{row.partition}", fontsize=6, va="center", color="white")

    for m in marks.itertuples(index=False):
        shape, color, _ = MARKER_STYLE.get(m.marker, MARKER_STYLE["stopped"])
        ax.scatter([m.ts - t0], [lane[m.consumer] + lane_h / 2 + 0.08], marker=shape, color=color, s=70,
                   zorder=5, edgecolors="black", linewidths=0.5)

    ax.set_yticks(range(-1, len(consumers)), [tr("no owner")] + consumers)
    ax.get_yticklabels()[0].set_color("darkred")
    ax.axhline(-0.5, color="gray", lw=0.8)
    ax.set_ylim(-1.6, len(consumers) + 0.45)
    ax.set_xlim(0, max(t_end - t0, 1e-3) * 1.02)
    ax.set_xlabel(tr("time since the first event (s)"))
    ax.set_ylabel(tr("consumer"))
    totals = tl.totals()
    ax.set_title(tr("{title} - {rebalances} rebalances, {moves} partition moves, longest no-owner gap {gap:.1f} s")
                 .format(title=title, rebalances=totals["rebalances"], moves=totals["partitions_moved"],
                         gap=totals["max_gap_s"]))
    ax.grid(True, axis="x", alpha=0.3)
    handles = [Patch(color=colors(slot[tp] % colors.N), label=f"{tp[0]}-{tp[1]}") for tp in parts]
    handles += [Line2D([], [], marker=MARKER_STYLE[k][0], color=MARKER_STYLE[k][1], ls="", markersize=8,
                       markeredgecolor="black", label=_marker_label(k)) for k in sorted(set(marks["marker"]))]
    handles.append(Patch(color="tab:red", alpha=0.15, label=tr("partitions without owner")))
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="x-small", frameon=False)
    return fig


# --- DLT -------------------------------------------------------------------------------------------


def dlt_over_time(events_frame: pd.DataFrame, ax: Any = None) -> Figure:
    """Cumulative records sent to the DLT, one step line per reason plus the total. Accepts an
    events frame (``SentToDLT`` rows) or :func:`labkit.observe.monitor.dlt_frame` (``timestamp``, ``reason``)."""
    fig, ax = _axes(ax)
    title = tr("Dead Letter Topic: records over time")
    if events_frame is not None and "timestamp" in events_frame and "kind" not in events_frame:
        df = events_frame.assign(ts=pd.to_datetime(events_frame["timestamp"], utc=True).astype("int64") / 1e9)
        t0 = float(df["ts"].min()) if len(df) else 0.0
    else:
        df, t0 = _kind(events_frame, "SentToDLT"), _t0(events_frame)
    if df.empty:
        return _empty(ax, title, tr("nothing in the DLT yet"))
    df = df.sort_values("ts")
    t = df["ts"].astype(float) - t0
    for reason, g in df.groupby("reason"):
        times = g["ts"].astype(float) - t0
        ax.step(np.r_[0, times], np.r_[0, np.arange(1, len(g) + 1)], where="post", label=str(reason))
    ax.step(np.r_[0, t], np.r_[0, np.arange(1, len(df) + 1)], where="post", color="black", lw=2,
            label=tr("total ({n})").format(n=len(df)))
    ax.set_xlabel(tr("time since the first event (s)"))
    ax.set_ylabel(tr("records in the DLT (cumulative)"))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper left")
    return fig


def dlt_reasons(data: pd.Series | pd.DataFrame, ax: Any = None) -> Figure:
    """DLT records per reason as horizontal bars, most frequent on top. Accepts
    :func:`labkit.observe.monitor.dlt_by_reason` (a Series), a frame with a ``reason`` column (DLT frame or
    events frame: its ``SentToDLT`` rows) or a ``{reason: count}`` mapping."""
    fig, ax = _axes(ax, (8, 4))
    title = tr("Dead Letter Topic: records by reason")
    if isinstance(data, pd.DataFrame):
        rows = data[data["kind"] == "SentToDLT"] if "kind" in data else data
        counts = rows["reason"].value_counts() if "reason" in rows else pd.Series(dtype=int)
    else:
        counts = pd.Series(data, dtype="float64") if isinstance(data, Mapping) else data
    counts = counts.sort_values()
    if counts.empty:
        return _empty(ax, title, tr("nothing in the DLT yet"))
    bars = ax.barh([str(i) for i in counts.index], counts.values, color="tab:red", alpha=0.8)
    ax.bar_label(bars, labels=[f"{int(v)}" for v in counts.values], padding=3)
    ax.set_xlabel(tr("records"))
    ax.set_ylabel(tr("reason (errorType)"))
    ax.set_title(tr("{title} ({n} total)").format(title=title, n=int(counts.sum())))
    ax.set_xlim(0, float(counts.max()) * 1.15 + 0.5)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, axis="x", alpha=0.3)
    return fig


ACK_COLOURS = {"ACCEPT": "tab:green", "RELEASE": "tab:orange", "REJECT": "tab:red"}


def share_deliveries(events_frame: pd.DataFrame, ax: Any = None, limit: int | None = None) -> Figure:
    """A share group's deliveries per order: one bar per order that was not accepted at its first
    delivery, one segment per delivery coloured by the consumer's answer (ACCEPT / RELEASE / REJECT),
    labelled with the consumer; the orders accepted at once are counted in the title. ``limit``: the
    group's ``share.delivery.count.limit``, drawn as a line (default: from the events)."""
    fig, ax = _axes(ax, (9, 4))
    title = tr("Share group: deliveries per order")
    acks = _kind(events_frame, "Acknowledged")
    if acks.empty:
        return _empty(ax, title, tr("no delivery yet"))
    ids = acks["order_id"].fillna(acks["key"]).astype(str)
    acks = acks.assign(record=ids)
    at_once = acks.groupby("record")["ack"].agg(lambda a: list(a) == ["ACCEPT"])
    shown = [r for r in dict.fromkeys(acks["record"]) if not at_once[r]]
    if not shown:
        return _empty(ax, tr("{title} ({n} accepted at their first delivery)").format(title=title, n=len(at_once)),
                      tr("no retry, no rejection"))
    for y, record in enumerate(reversed(shown)):
        rows = acks[acks["record"] == record].sort_values("ts")
        for x, (_, row) in enumerate(rows.iterrows()):
            ax.barh(y, 1, left=x, color=ACK_COLOURS.get(row["ack"], "tab:gray"), edgecolor="white", alpha=0.85)
            ax.text(x + 0.5, y, str(row["consumer"]), ha="center", va="center", fontsize=8, color="white")
    limit = limit or int(acks["delivery_limit"].max() or 0)
    if limit:
        ax.axvline(limit, color="black", linestyle="--", linewidth=1)
        note = tr(" delivery limit {limit}: then the broker dead-letters").format(limit=limit)
        ax.text(limit, len(shown) - 0.5, note, va="bottom")
    ax.set_yticks(range(len(shown)), list(reversed(shown)))
    ax.set_xlabel(tr("deliveries (the broker counts them)"))
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(limit, int(acks.groupby("record").size().max())) + 0.5)
    ax.set_ylim(-0.6, len(shown) + 0.2)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in ACK_COLOURS.items()], loc="lower right")
    ax.set_title(tr("{title} ({n} more accepted at their first delivery)").format(title=title, n=int(at_once.sum())))
    return fig


# --- lag and throughput ----------------------------------------------------------------------------


def lag_over_time(sampler_frame: pd.DataFrame, ax: Any = None) -> Figure:
    """Consumer lag per partition (thin lines) and in total (thick), from
    :meth:`labkit.observe.lag.LagSampler.frame` (columns ``ts, topic, partition, lag``)."""
    fig, ax = _axes(ax)
    title = tr("Consumer lag over time")
    df = sampler_frame.dropna(subset=["lag"]) if sampler_frame is not None and len(sampler_frame) else None
    if df is None or df.empty:
        return _empty(ax, title, tr("no lag samples yet (nothing committed?)"))
    ts = pd.to_datetime(df["ts"], utc=True)
    t = (ts - ts.min()).dt.total_seconds()
    df = df.assign(t=t.values, lag=df["lag"].astype(float))
    for (topic, partition), g in df.groupby(["topic", "partition"]):
        ax.plot(g["t"], g["lag"], lw=1, alpha=0.7, label=f"{topic}-{partition}")
    total = df.groupby("t")["lag"].sum()
    ax.plot(total.index, total.values, color="black", lw=2.5, label=tr("total"))
    ax.set_xlabel(tr("time since the first sample (s)"))
    ax.set_ylabel(tr("lag (records not yet committed)"))
    ax.set_title(tr("{title} (max total {max}, last {last})").format(title=title, max=int(total.max()),
                                                                        last=int(total.iloc[-1])))
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    return fig


def throughput(events_frame: pd.DataFrame, ax: Any = None, bin_s: float = 1.0) -> Figure:
    """Records processed per second by each consumer (stacked) - a rebalance shows as a dip to 0.
    DLT sends are drawn as a dashed line."""
    fig, ax = _axes(ax)
    title = tr("Throughput: records handled per second")
    done = _kind(events_frame, "Processed")
    dlt = _kind(events_frame, "SentToDLT")
    if done.empty and dlt.empty:
        return _empty(ax, title, tr("no records processed yet"))
    t0 = _t0(events_frame)
    t_end = float(events_frame["ts"].astype(float).max()) - t0
    edges = np.arange(0, t_end + bin_s, bin_s)
    if len(edges) < 2:
        edges = np.array([0, bin_s])
    centers = edges[:-1]
    consumers = sorted(done["consumer"].unique())
    stacks = [np.histogram(done[done["consumer"] == c]["ts"].astype(float) - t0, bins=edges)[0] / bin_s
              for c in consumers]
    if stacks:
        ax.stackplot(centers, *stacks, labels=consumers, step="post", alpha=0.8)
    if not dlt.empty:
        rate = np.histogram(dlt["ts"].astype(float) - t0, bins=edges)[0] / bin_s
        ax.step(centers, rate, where="post", color="tab:red", ls="--", label=tr("sent to DLT"))
    ax.set_xlabel(tr("time since the first event (s)"))
    ax.set_ylabel(tr("records / s ({bin:g} s bins)").format(bin=bin_s))
    ax.set_title(tr("{title} ({processed} processed, {dlt} to DLT)").format(title=title, processed=len(done),
                                                                            dlt=len(dlt)))
    ax.set_xlim(0, max(t_end, bin_s))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small", loc="upper right")
    return fig
