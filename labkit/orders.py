"""The order domain: the value the labs produce, and the checks the consumer runs on it.

Two failure families, two exceptions, because they are diagnosed differently:

* :class:`~labkit.errors.MalformedPayload` - the bytes are not an order at all (empty, not UTF-8,
  not JSON, not a JSON object). Only the raw bytes can be kept in the DLT.
* :class:`~labkit.errors.ValidationError` - a JSON order that breaks a rule (``amount`` <= 0...).

Both are permanent: the record goes to the DLT on its first failure. Pure Python, no Kafka.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labkit.errors import MalformedPayload, ValidationError

__all__ = ["STATUSES", "Order", "decode_json", "parse_order", "parse_fields", "validate", "text_problem",
           "sample_orders"]

STATUSES = ("PENDING", "CONFIRMED", "PAID", "SHIPPED", "DELIVERED", "CANCELLED")


@dataclass(frozen=True)
class Order:
    """An order as the module's JSON carries it: ``{"orderId", "amount", "status"}``.

    Deliberately *not* validated on construction: the labs must be able to produce invalid
    orders on purpose (``Order("ORD-INVALID", -50)``). The consumer validates with
    :func:`parse_order`. ``amount`` keeps its JSON type: ``100`` stays an ``int``, so the
    module's orders round-trip byte for byte.

    >>> Order("ORD-1", 100).to_json()
    b'{"orderId":"ORD-1","amount":100,"status":"PENDING"}'
    """

    order_id: str
    amount: float  # int or float; an int stays an int
    status: str = "PENDING"

    def to_dict(self) -> dict[str, Any]:
        """The camelCase JSON object of the module."""
        return {"orderId": self.order_id, "amount": self.amount, "status": self.status}

    def to_json(self) -> bytes:
        """Compact UTF-8 JSON, the record value."""
        return json.dumps(self.to_dict(), separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    @property
    def key(self) -> bytes:
        """The record key: the order id, so every event of one order lands in one partition."""
        return self.order_id.encode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")  # a lone UTF-16 surrogate: JSON's "\\ud800" decodes to one
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # Unicode's Cc: C0 controls, DEL, C1 controls


def text_problem(text: str, *, control: bool = False) -> str | None:
    """What makes ``text`` unfit for an order's field, as the end of a sentence that starts with the
    field's name, or None. A lone UTF-16 surrogate (JSON's ``"\\ud800"``, a pair broken or reversed):
    UTF-8 cannot encode it, so no record can carry it. With ``control``, a control character (``\\n``,
    ``\\t``, ESC, NUL, DEL...): one in an id splits or colours the log lines that print it.

    >>> text_problem("ORD-\\n1", control=True)
    'contains a control character (U+000A at position 4); an id must be printable text'
    """
    found = _SURROGATE.search(text)
    if found is not None:
        return (f"contains a lone UTF-16 surrogate (U+{ord(found.group()):04X} at position {found.start()}), "
                "which UTF-8 cannot encode")
    if control:
        found = _CONTROL.search(text)
        if found is not None:
            return (f"contains a control character (U+{ord(found.group()):04X} at position {found.start()}); "
                    "an id must be printable text")
    return None


# each allowed status to itself: validate keeps this one string, not the one each payload decodes to
_CANONICAL_STATUS = {status: status for status in STATUSES}
_INF = math.inf
_json_decoder = json.JSONDecoder()
_JSON_KIND = {list: "list", str: "string", int: "number", float: "number", bool: "boolean"}


def decode_json(raw: bytes | str) -> Any:
    """Bytes or text -> a JSON value (what ``json.loads`` gives), or :class:`MalformedPayload`
    saying exactly what is wrong (not UTF-8, empty, not JSON)."""
    if isinstance(raw, str):
        text = raw
    else:
        data = raw if isinstance(raw, bytes) else bytes(raw)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedPayload(
                f"payload is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start})"
            ) from exc
    try:  # json.loads' own C scanner without its two whitespace regexes: a record value is one
        # JSON document, nothing around it. Anything else (spaces, a BOM, extra data, an error) is
        # decoded again by json.loads, so the value and the message are exactly json.loads'.
        value, end = _json_decoder.raw_decode(text)
    except (ValueError, RecursionError):
        end = -1
    if end == len(text):
        return value
    try:
        return json.loads(text)
    except ValueError as exc:  # JSONDecodeError, or an int beyond Python's 4300-digit limit
        if not text.strip():  # checked only on failure: the valid path is the hot one
            raise MalformedPayload("empty payload") from None
        raise MalformedPayload(f"payload is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise MalformedPayload("payload is not JSON: nested too deeply") from exc


def parse_order(raw: bytes | str | Mapping[str, Any] | Any) -> Order:
    """A record value -> a valid :class:`Order`; raises ``MalformedPayload`` or ``ValidationError``.

    ``raw`` may be the record's bytes, text, or an already-decoded JSON value (when the consumer
    has a JSON ``value_deserializer``).

    >>> parse_order(b'{"orderId": "ORD-1", "amount": 100}')
    Order(order_id='ORD-1', amount=100, status='PENDING')
    """
    return Order(*parse_fields(raw))


def parse_fields(raw: bytes | str | Mapping[str, Any] | Any) -> tuple[str, int | float, str]:
    """:func:`parse_order` without building the :class:`Order`: ``(order_id, amount, status)``,
    same checks, same errors. The consumer's default handler needs only these three values.

    >>> parse_fields(b'{"orderId": "ORD-1", "amount": 100}')
    ('ORD-1', 100, 'PENDING')
    """
    value = decode_json(raw) if isinstance(raw, (bytes, bytearray, memoryview, str)) else raw
    if type(value) is dict or isinstance(value, Mapping):  # the exact check first: the ABC one is slow
        return _fields(value)
    if value is None:
        raise MalformedPayload("payload is a JSON null, expected an object")
    kind = _JSON_KIND.get(type(value))
    if kind is None:
        raise TypeError(f"parse_order() expects bytes, str or a decoded JSON value, got {type(value)!r}")
    raise MalformedPayload(f"payload is a JSON {kind}, expected an object")


def validate(data: Mapping[str, Any]) -> Order:
    """A decoded JSON object -> a valid :class:`Order`, or ``ValidationError`` on the first broken rule.

    Rules: ``orderId`` a non-empty string UTF-8 can encode; ``amount`` a finite number > 0 (not a boolean);
    ``status`` one of :data:`STATUSES` if present (default ``PENDING``). Extra fields are ignored.
    """
    return Order(*_fields(data))


def _fields(data: Mapping[str, Any]) -> tuple[str, int | float, str]:
    """:func:`validate`'s rules -> ``(order_id, amount, status)``."""
    # The usual order passes every rule in this one test (exact types: a bool is not an int here,
    # NaN fails 0 < x < inf); anything else is judged rule by rule by _first_broken_rule. The
    # order gets the canonical status string: a store of 50 000 orders keeps 7 strings, not 50 000.
    order_id = data.get("orderId")
    amount = data.get("amount")
    status = data.get("status", "PENDING")
    if (type(order_id) is str and order_id and not order_id.isspace() and order_id.isprintable()
            and (type(amount) is int or type(amount) is float) and 0 < amount < _INF
            and type(status) is str and (status := _CANONICAL_STATUS.get(status)) is not None):
        return order_id, amount, status
    return _first_broken_rule(data)


def _first_broken_rule(data: Mapping[str, Any]) -> tuple[str, int | float, str]:
    """The rules one at a time: the order's fields, or ``ValidationError`` naming the first rule it breaks."""
    if "orderId" not in data:
        raise ValidationError("orderId is missing")
    order_id = data["orderId"]
    if not isinstance(order_id, str) or not order_id.strip():
        raise ValidationError(f"orderId must be a non-empty string, got {order_id!r}")
    if not order_id.isprintable() and (problem := text_problem(order_id)) is not None:
        raise ValidationError(f"orderId {problem}")  # it could never be a key, nor be logged

    if "amount" not in data:
        raise ValidationError("amount is missing")
    amount = data["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ValidationError(f"amount must be a number, got {amount!r}")
    if amount <= 0 or (isinstance(amount, float) and not math.isfinite(amount)):
        raise ValidationError(f"Invalid amount {amount}")

    status = data.get("status", "PENDING")
    if not isinstance(status, str) or status not in _CANONICAL_STATUS:
        raise ValidationError(f"Invalid status {status!r} (allowed: {', '.join(STATUSES)})")

    return order_id, amount, _CANONICAL_STATUS[status]


def sample_orders(n: int, prefix: str = "ORD-", start: int = 1) -> list[Order]:
    """The module's Lab 1 orders: ``ORD-1`` amount 100, ``ORD-2`` amount 200... all ``PENDING``.

    >>> [o.amount for o in sample_orders(3)]
    [100, 200, 300]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return [Order(f"{prefix}{i}", i * 100) for i in range(start, start + n)]
