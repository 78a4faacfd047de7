"""Who else is in the group? A terminal ``labkit api`` or ``labkit consumer``, or another notebook's
kernel, joins ``orders-consumer-group`` too and takes partitions: the orders on them are processed
elsewhere and a lab waiting for them would time out with no hint why. Labs check first and say who.
"""

from __future__ import annotations

from collections.abc import Iterable

from labkit.observe.lag import group_state
from labkit.settings import Settings
from labkit.wait import wait_until

__all__ = ["ForeignConsumers", "foreign_members", "require_alone"]


class ForeignConsumers(RuntimeError):
    """Other consumers share the group; the message names them and says how to stop them."""


def foreign_members(settings: Settings, own_client_ids: Iterable[str], group_id: str | None = None,
                    timeout_s: float = 5.0) -> list[dict]:
    """The group's members that are not ours (by client id). Where the broker does not say who a
    member is (the embedded broker sends no client ids), every member beyond our count."""
    own = set(own_client_ids)
    members = group_state(settings, group_id, timeout_s)["members"]
    if any(m["client_id"] is None for m in members):
        return members[len(own):] if len(members) > len(own) else []
    return [m for m in members if m["client_id"] not in own]


def _describe(member: dict) -> str:
    who = (f"client id {member['client_id']} on {member['host']}" if member["client_id"]
           else "a member (this broker does not say which client)")
    parts = member.get("partitions")
    if parts:
        who += " holding " + ", ".join(f"{tp.topic}-{tp.partition}" for tp in parts)
    return who


def require_alone(settings: Settings, own_client_ids: Iterable[str], group_id: str | None = None,
                  grace_s: float | None = None) -> None:
    """Raise :class:`ForeignConsumers` if other consumers are still in the group after ``grace_s``
    (default: the session timeout plus a heartbeat, so a consumer of a kernel that just died has
    been evicted by then)."""
    group_id = group_id or settings.group_id
    grace_s = (settings.session_timeout_ms + settings.heartbeat_interval_ms) / 1000 if grace_s is None else grace_s
    own = list(own_client_ids)
    try:
        wait_until(lambda: not foreign_members(settings, own, group_id), grace_s, "the group to be ours alone",
                   interval_s=0.5)
    except TimeoutError:
        others = foreign_members(settings, own, group_id)
        if not others:
            return
        raise ForeignConsumers(
            f"another consumer is in {group_id}: {'; '.join(map(_describe, others))}. It is a terminal "
            "`labkit api` or `labkit consumer`, or another notebook's kernel, and it takes orders this lab "
            "waits for. Stop it (Ctrl+C in its terminal, or Kernel > Shut Down in the other notebook), then "
            "run this cell again.") from None
