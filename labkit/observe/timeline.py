"""A consumer group's rebalances as a timeline, derived only from the event log.

Input: an :class:`~labkit.events.EventLog`, a list of events, or ``EventLog.frame()``. Output:

* :meth:`Timeline.intervals` - per consumer, which partition it owned from when to when;
* :meth:`Timeline.markers` - join, clean leave, crash (SIGKILL) and "lost" (kicked out) markers;
* :meth:`Timeline.gaps` - for every rebalance, how long each partition had **no owner** (nobody
  could process it: the stop-the-world pause), which consumer had it before and after, and
  whether it moved;
* :meth:`Timeline.summary` - one row per rebalance: trigger, partitions moved, max gap.

How ownership is read from the events (both rebalance protocols):
``PartitionsAssigned`` adds partitions to the consumer's set (eager: the full new set after a
revoke-all; cooperative: only the added ones), ``PartitionsRevoked`` / ``PartitionsLost`` remove
them, and ``ConsumerStopped`` (a clean stop, or ``reason="killed"`` recorded by
:class:`~labkit.group.supervisor.ConsumerGroup` on SIGKILL) ends everything the consumer owned. A killed
consumer still "owns" its partitions in the broker's eyes until it is evicted, but nobody
processes them: the timeline counts them as unowned from the kill.

A gap belongs to the latest trigger (join / leave / crash / lost) at or before its start, except
the gaps a leaving consumer opens itself: ``close()`` revokes its partitions *before* it sends
LeaveGroup, closes its connections and its DLT producer, and only then is the stop event logged.
That final revoke - the consumer's last ownership event before a clean stop, at most
``tolerance_s`` (10 s) earlier - belongs to its leave, however long the close took (under load it
can take seconds; a fixed half-second window used to hand those gaps to the previous rebalance).

Per rebalance, a partition counts once: ``partitions_paused`` is the number of partitions that
had no owner at some point, ``partitions_moved`` the number whose owner after the rebalance
differs from the one before it (a partition that went through a second gap in the same rebalance,
or came back to its owner, is not a move).

>>> from labkit.events import ConsumerStarted, PartitionsAssigned
>>> tl = Timeline([ConsumerStarted(ts=0.0, consumer="c1"),
...                PartitionsAssigned(ts=3.0, consumer="c1", partitions=(("orders", 0),))])
>>> tl.assignment()
{'c1': (('orders', 0),)}
>>> float(tl.gaps()["gap_s"].iloc[0])
3.0
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from labkit.lang import LABELLED

__all__ = ["Timeline", "assignment_from_events", "rebalance_figures", "explain"]

_OWNERSHIP_KINDS = {"ConsumerStarted", "ConsumerStopped", "PartitionsAssigned", "PartitionsRevoked",
                    "PartitionsLost"}

INTERVAL_COLUMNS = ["consumer", "topic", "partition", "start", "end", "end_reason"]
MARKER_COLUMNS = ["ts", "consumer", "marker", "detail"]
GAP_COLUMNS = ["rebalance", "trigger", "trigger_ts", "topic", "partition", "prev_owner", "new_owner",
               "moved", "unowned_from", "unowned_to", "gap_s"]
SUMMARY_COLUMNS = ["rebalance", "trigger", "trigger_ts", "partitions_moved", "partitions_paused",
                   "max_gap_s", "pause_s", "settled_ts"]


def _rows(source: Any) -> list[dict[str, Any]]:
    """EventLog | events | DataFrame -> the ownership-relevant event dicts, sorted by time."""
    if isinstance(source, pd.DataFrame):
        records = source.to_dict("records")
    else:
        events = source.events if hasattr(source, "events") else list(source)
        records = [e.to_dict() if hasattr(e, "to_dict") else dict(e) for e in events]
    rows = []
    for i, r in enumerate(records):
        if r.get("kind") not in _OWNERSHIP_KINDS:
            continue
        parts = r.get("partitions")
        if not isinstance(parts, (list, tuple)):  # NaN in a frame column for non-partition events
            parts = ()
        rows.append({"i": i, "kind": r["kind"], "ts": float(r["ts"]), "consumer": r.get("consumer") or "",
                     "partitions": tuple((str(t), int(p)) for t, p in parts),
                     "reason": r.get("reason") if isinstance(r.get("reason"), str) else None})
    rows.sort(key=lambda r: (r["ts"], r["i"]))
    return rows


def _marker(row: dict[str, Any]) -> tuple[str, str] | None:
    kind = row["kind"]
    if kind == "ConsumerStarted":
        return "join", "joined"
    if kind == "ConsumerStopped":
        reason = row["reason"] or "stopped"
        if reason == "killed":
            return "crash", "killed (SIGKILL): evicted after session_timeout_ms"
        if reason in ("stopped", "until", "timeout", "signal", "SIGTERM"):
            return "leave", f"clean leave ({reason})"
        return "stopped", reason
    if kind == "PartitionsLost" and row["partitions"]:
        return "lost", "removed from the group (session or max.poll.interval expired)"
    return None


class Timeline:
    """Ownership intervals, markers and no-owner gaps of one group run (see the module doc)."""

    def __init__(self, source: Any, tolerance_s: float = 10.0, end_ts: float | None = None) -> None:
        self.tolerance_s = tolerance_s
        self._rows = _rows(source)
        last = self._rows[-1]["ts"] if self._rows else 0.0
        self.end_ts = max(last, end_ts) if end_ts is not None else last
        self._build()

    # --- the one pass over the events --------------------------------------------------------

    def _build(self) -> None:
        owned: dict[str, set[tuple[str, int]]] = {}
        since: dict[tuple[str, tuple[str, int]], float] = {}
        alive: set[str] = set()
        intervals: list[dict[str, Any]] = []
        markers: list[dict[str, Any]] = []
        triggers: list[dict[str, Any]] = []
        open_gaps: dict[tuple[str, int], dict[str, Any]] = {}
        gaps: list[dict[str, Any]] = []
        owner_of: dict[tuple[str, int], str | None] = {}

        def owners(tp):
            return [c for c, s in owned.items() if tp in s and c in alive]

        def release(consumer, tps, ts, why, n):
            for tp in sorted(tps & owned.get(consumer, set())):
                owned[consumer].discard(tp)
                start = since.pop((consumer, tp), ts)
                intervals.append({"consumer": consumer, "topic": tp[0], "partition": tp[1], "start": start,
                                  "end": ts, "end_reason": why})
                if not owners(tp) and tp not in open_gaps:
                    open_gaps[tp] = {"from": ts, "prev": consumer, "opened_by": n}

        # a clean stop's final revoke: the consumer's last ownership event before the stop
        final_revoke: dict[int, int] = {}  # row number of the revoke -> row number of the stop
        last_event: dict[str, int] = {}
        for n, row in enumerate(self._rows):
            previous = last_event.get(row["consumer"])
            if (row["kind"] == "ConsumerStopped" and row["reason"] != "killed" and previous is not None
                    and self._rows[previous]["kind"] == "PartitionsRevoked"
                    and row["ts"] - self._rows[previous]["ts"] <= self.tolerance_s):
                final_revoke[previous] = n
            if row["kind"] != "ConsumerStarted":
                last_event[row["consumer"]] = n

        trigger_of_row: dict[int, int] = {}
        for n, row in enumerate(self._rows):
            kind, ts, consumer, parts = row["kind"], row["ts"], row["consumer"], set(row["partitions"])
            mark = _marker(row)
            if mark is not None:
                markers.append({"ts": ts, "consumer": consumer, "marker": mark[0], "detail": mark[1]})
                trigger_of_row[n] = len(triggers)
                triggers.append({"ts": ts, "label": f"{mark[0]} {consumer}", "consumer": consumer,
                                 "kind": mark[0]})
            if kind == "ConsumerStarted":
                alive.add(consumer)
                owned.setdefault(consumer, set())
            elif kind == "PartitionsAssigned":
                alive.add(consumer)
                mine = owned.setdefault(consumer, set())
                for tp in sorted(parts - mine):
                    mine.add(tp)
                    since[(consumer, tp)] = ts
                    gap = open_gaps.pop(tp, None)
                    if tp not in owner_of and gap is None:  # first owner ever: time to first assignment
                        gap = {"from": None, "prev": None, "opened_by": None}
                    if gap is not None:
                        gaps.append({"topic": tp[0], "partition": tp[1], "prev_owner": gap["prev"],
                                     "new_owner": consumer, "unowned_from": gap["from"], "unowned_to": ts,
                                     "_opened_by": gap["opened_by"]})
                    owner_of[tp] = consumer
            elif kind == "PartitionsRevoked":
                release(consumer, parts, ts, "revoked", n)
            elif kind == "PartitionsLost":
                release(consumer, parts, ts, "lost", n)
            elif kind == "ConsumerStopped":
                why = "crash" if row["reason"] == "killed" else "left"
                alive.discard(consumer)
                release(consumer, set(owned.get(consumer, set())), ts, why, n)
                # a killed consumer's partitions are unowned from the kill on
                for tp in list(owned.get(consumer, ())):
                    owned[consumer].discard(tp)

        for (consumer, tp), start in since.items():  # still owned at the end
            intervals.append({"consumer": consumer, "topic": tp[0], "partition": tp[1], "start": start,
                              "end": None, "end_reason": "owned"})
        for tp, gap in open_gaps.items():  # still unowned at the end
            gaps.append({"topic": tp[0], "partition": tp[1], "prev_owner": gap["prev"], "new_owner": None,
                         "unowned_from": gap["from"], "unowned_to": None, "_opened_by": gap["opened_by"]})

        # attribute each gap to the latest trigger at or before its start; a leaving consumer's
        # own final revoke comes *before* its stop event: that gap belongs to its leave
        for gap in gaps:
            opened_by = gap.pop("_opened_by")
            if opened_by in final_revoke:
                gap["_trigger"] = trigger_of_row[final_revoke[opened_by]]
                continue
            start = gap["unowned_from"] if gap["unowned_from"] is not None else gap["unowned_to"]
            chosen = None
            for k, trig in enumerate(triggers):
                if trig["ts"] > start:
                    break
                chosen = k
            gap["_trigger"] = chosen
            if gap["unowned_from"] is None:  # first assignment: unowned since the trigger
                gap["unowned_from"] = triggers[chosen]["ts"] if chosen is not None else gap["unowned_to"]
        used = sorted({g["_trigger"] for g in gaps if g["_trigger"] is not None})
        number = {k: n + 1 for n, k in enumerate(used)}
        for gap in gaps:
            k = gap.pop("_trigger")
            gap["rebalance"] = number.get(k, 0)
            gap["trigger"] = triggers[k]["label"] if k is not None else "unknown"
            gap["trigger_ts"] = triggers[k]["ts"] if k is not None else math.nan
            gap["moved"] = gap["prev_owner"] is not None and gap["new_owner"] not in (None, gap["prev_owner"])
            gap["gap_s"] = (gap["unowned_to"] - gap["unowned_from"]) if gap["unowned_to"] is not None else math.nan

        self._owned_final = {c: tuple(sorted(s)) for c, s in owned.items() if c in alive}
        self._intervals = intervals
        self._markers = markers
        self._gaps = gaps

    # --- views -------------------------------------------------------------------------------------

    def assignment(self) -> dict[str, tuple[tuple[str, int], ...]]:
        """``{consumer: ((topic, partition), ...)}`` of the consumers alive at the end of the log."""
        return dict(sorted(self._owned_final.items()))

    def intervals(self) -> pd.DataFrame:
        """One row per (consumer, partition, ownership period); ``end`` NaN while still owned."""
        df = pd.DataFrame(self._intervals, columns=INTERVAL_COLUMNS)
        return df.sort_values(["consumer", "topic", "partition", "start"], ignore_index=True)

    def markers(self) -> pd.DataFrame:
        """Join / leave / crash / lost markers: ``ts, consumer, marker, detail``."""
        return pd.DataFrame(self._markers, columns=MARKER_COLUMNS)

    def gaps(self) -> pd.DataFrame:
        """Every no-owner gap: rebalance #, trigger, partition, previous / new owner, moved,
        ``unowned_from``, ``unowned_to`` (epoch s; NaN if still unowned) and ``gap_s``."""
        df = pd.DataFrame(self._gaps, columns=GAP_COLUMNS)
        df["moved"] = df["moved"].astype(bool)
        return df.sort_values(["rebalance", "topic", "partition", "unowned_from"], ignore_index=True)

    def summary(self) -> pd.DataFrame:
        """One row per rebalance: trigger, partitions moved (owner after != owner before), partitions
        paused (had no owner at some point), max gap (s), partition-seconds without an owner
        (``pause_s``) and when the last partition got its owner back (``settled_ts``)."""
        gaps = self.gaps()
        rows = []
        for number, g in gaps.groupby("rebalance", sort=True):
            rows.append({"rebalance": int(number), "trigger": g["trigger"].iloc[0],
                         "trigger_ts": g["trigger_ts"].iloc[0]} | rebalance_figures(g))
        return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)

    def report(self) -> pd.DataFrame:
        """:meth:`summary` for reading, one row per rebalance: ``trigger``, ``at_s`` (seconds since
        the first event), ``moved`` / ``paused`` (partitions), ``max_gap_s`` and ``settled_s``
        (trigger -> every partition owned again), rounded."""
        s = self.summary()
        t0 = self._rows[0]["ts"] if self._rows else 0.0
        out = pd.DataFrame({
            "rebalance": s["rebalance"], "trigger": s["trigger"], "at_s": (s["trigger_ts"] - t0).round(1),
            "moved": s["partitions_moved"], "paused": s["partitions_paused"],
            "max_gap_s": s["max_gap_s"].round(2), "settled_s": (s["settled_ts"] - s["trigger_ts"]).round(2)})
        out = out.set_index("rebalance")
        out.attrs[LABELLED] = True  # French column labels when shown; code indexes the English names
        return out

    def totals(self) -> dict[str, Any]:
        """Whole-run figures: rebalances, partitions moved, max gap (s)."""
        s = self.summary()
        return {"rebalances": int(len(s)), "partitions_moved": int(s["partitions_moved"].sum()),
                "max_gap_s": float(s["max_gap_s"].max()) if len(s) else 0.0}


def rebalance_figures(gaps: pd.DataFrame) -> dict[str, Any]:
    """Figures of one rebalance from its rows of :meth:`Timeline.gaps`, each partition counted once:
    ``partitions_moved`` (owner before its first gap != owner after its last one),
    ``partitions_paused``, ``max_gap_s``, ``pause_s`` (gap seconds summed) and ``settled_ts``."""
    if gaps.empty:
        return {"partitions_moved": 0, "partitions_paused": 0, "max_gap_s": 0.0, "pause_s": 0.0,
                "settled_ts": math.nan}
    moved = 0
    for _, g in gaps.sort_values("unowned_from").groupby(["topic", "partition"], sort=False):
        before, after = g["prev_owner"].iloc[0], g["new_owner"].iloc[-1]
        moved += bool(isinstance(before, str) and isinstance(after, str) and before != after)
    return {"partitions_moved": moved, "partitions_paused": int(gaps.groupby(["topic", "partition"]).ngroups),
            "max_gap_s": float(gaps["gap_s"].max()) if gaps["gap_s"].notna().any() else math.nan,
            "pause_s": float(gaps["gap_s"].sum()),
            "settled_ts": float(gaps["unowned_to"].max()) if gaps["unowned_to"].notna().all() else math.nan}


def assignment_from_events(events: Iterable[Any]) -> dict[str, tuple[tuple[str, int], ...]]:
    """The current assignment ``{consumer: partitions}`` of the live consumers, from the events."""
    return Timeline(events).assignment()


def explain(source: Any) -> str:
    """The ownership events, then the gaps table, as text with times relative to the first event
    (what a failing test prints, and a quick look at a run in a notebook)."""
    rows = _rows(source)
    if not rows:
        return "(no ownership events)"
    t0 = rows[0]["ts"]
    lines = [f"{r['ts'] - t0:8.3f}  {r['consumer']:<12} {r['kind']:<19} {[p for _, p in r['partitions']]}"
             + (f" {r['reason']}" if r["reason"] else "") for r in rows]
    gaps = Timeline(source).gaps().drop(columns=["topic"])
    for col in ("trigger_ts", "unowned_from", "unowned_to"):
        gaps[col] = gaps[col] - t0
    return "\n".join(lines) + "\n" + gaps.round(3).to_string(index=False)
