"""What the API checks itself: the *shape* of a request (the consumer checks the business rules).

The API rejects (4xx, nothing produced) a body that is not UTF-8 JSON (400), too large (413), not a
JSON object, without a non-empty string ``orderId``, without a numeric ``amount`` (a JSON number, not a
boolean, finite), or with a non-string ``status`` (422). It also rejects (422, naming the field) the
strings no record can carry: a lone UTF-16 surrogate in ``orderId`` or ``status`` (``"\\ud800"`` is
valid JSON, but UTF-8 cannot encode it), and a control character in ``orderId`` (``\\n``, ESC...: it
would split or colour the log lines that print the id). What passes is always encodable: no request
can make the producer fail, be dropped, or ``/health`` report a broker problem. Extra fields are
ignored. A well-formed but invalid order (``amount: -50``, Lab 2) is accepted (202), produced, and
routed to ``orders.DLT`` by the consumer (:func:`labkit.orders.validate`).
"""

from __future__ import annotations

import json
import math
from typing import Any

from labkit.orders import Order, text_problem

__all__ = ["ApiError", "check_order", "shorten", "MAX_BODY_BYTES", "MAX_ORDER_ID_CHARS"]

MAX_BODY_BYTES = 64 * 1024
MAX_ORDER_ID_CHARS = 256


class ApiError(Exception):
    """An error answered as ``{"error": code, "message": one line}`` with an HTTP status."""

    def __init__(self, status: int, error: str, message: str):
        super().__init__(message)
        self.status, self.error, self.message = status, error, message




def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def check_order(body: bytes) -> Order:
    """The request body -> an :class:`Order` to produce, or :class:`ApiError` (400/413/422).

    >>> check_order(b'{"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}').amount
    -50
    """
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(413, "payload_too_large", f"request body is {len(body)} bytes; the limit is {MAX_BODY_BYTES}")
    if not body.strip():
        raise ApiError(400, "invalid_json",
                       'request body is empty; send {"orderId": ..., "amount": ..., "status": ...}')
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", f"request body is not UTF-8 (byte {exc.start})") from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "request body is not JSON: nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(data), "a number")
        raise ApiError(422, "invalid_order", f"request body is {kind}; expected a JSON object "
                                             '{"orderId": string, "amount": number, "status": string}')
    order_id = data.get("orderId")
    if "orderId" not in data:
        raise ApiError(422, "invalid_order", "orderId is missing")
    if not isinstance(order_id, str) or not order_id.strip():
        raise ApiError(422, "invalid_order", f"orderId must be a non-empty string, got {shorten(order_id)}")
    if len(order_id) > MAX_ORDER_ID_CHARS:
        raise ApiError(422, "invalid_order", f"orderId is longer than {MAX_ORDER_ID_CHARS} characters")
    if not order_id.isprintable() and (problem := text_problem(order_id, control=True)) is not None:
        raise ApiError(422, "invalid_order", f"orderId {problem}")
    if "amount" not in data:
        raise ApiError(422, "invalid_order", "amount is missing")
    amount = data["amount"]
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise ApiError(422, "invalid_order", f"amount must be a number, got {shorten(amount)}")
    if isinstance(amount, float) and not math.isfinite(amount):
        raise ApiError(422, "invalid_order", f"amount must be a finite number, got {amount}")
    status = data.get("status", "PENDING")
    if not isinstance(status, str):
        raise ApiError(422, "invalid_order", f"status must be a string, got {shorten(status)}")
    if not status.isprintable() and (problem := text_problem(status)) is not None:
        raise ApiError(422, "invalid_order", f"status {problem}")
    order = Order(order_id=order_id, amount=amount, status=status)
    try:  # what the producer will do with it: must never fail there (it would be taken for a broker problem)
        order.to_json()
    except (UnicodeEncodeError, ValueError) as exc:
        raise ApiError(422, "invalid_order", f"the order cannot be encoded as UTF-8 JSON: {exc}") from None
    return order


def shorten(value: Any, limit: int = 60) -> str:
    """``value`` as JSON for a one-line message, cut to ``limit`` characters; a lone surrogate in it is
    escaped (``\\ud800``), so the message can always be sent as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if not text.isprintable():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


