"""Parsing and validating orders: every rejection says precisely what is wrong."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.errors import MalformedPayload, ValidationError, describe
from labkit.orders import (
    STATUSES,
    Order,
    _fields,
    _first_broken_rule,
    decode_json,
    parse_fields,
    parse_order,
    sample_orders,
    validate,
)


def test_order_json_is_the_module_format():
    order = Order("ORD-1", 100)
    assert order.to_dict() == {"orderId": "ORD-1", "amount": 100, "status": "PENDING"}
    assert order.to_json() == b'{"orderId":"ORD-1","amount":100,"status":"PENDING"}'
    assert order.key == b"ORD-1"


def test_order_is_not_validated_on_construction():
    # the labs produce invalid orders on purpose
    assert Order("ORD-INVALID", -50).to_json() == b'{"orderId":"ORD-INVALID","amount":-50,"status":"PENDING"}'


def test_non_ascii_is_kept_as_utf8():
    assert Order("ORD-é", 1.5, "PAID").to_json() == '{"orderId":"ORD-é","amount":1.5,"status":"PAID"}'.encode()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"orderId": "ORD-1", "amount": 100, "status": "PENDING"}',
        '{"orderId": "ORD-1", "amount": 100, "status": "PENDING"}',
        bytearray(b'{"orderId": "ORD-1", "amount": 100}'),
        {"orderId": "ORD-1", "amount": 100},
        {"orderId": "ORD-1", "amount": 100, "customer": "ignored", "items": [1, 2]},
    ],
)
def test_parse_valid(raw):
    assert parse_order(raw) == Order("ORD-1", 100, "PENDING")
    assert parse_fields(raw) == ("ORD-1", 100, "PENDING")


def test_amount_keeps_its_json_type():
    assert type(parse_order(b'{"orderId":"A","amount":100}').amount) is int
    assert parse_order(b'{"orderId":"A","amount":99.5}').amount == 99.5


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty payload"),
        (b"  \n", "empty payload"),
        ("", "empty payload"),
        (b'{"a\xff', "payload is not valid UTF-8 (byte 0xff at position 3)"),
        (b"not json", "payload is not JSON: Expecting value: line 1 column 1 (char 0)"),
        (b'{"orderId": "A",', "payload is not JSON: Expecting property name enclosed in double quotes: "
         "line 1 column 17 (char 16)"),
        (b"[1, 2]", "payload is a JSON list, expected an object"),
        (b'"ORD-1"', "payload is a JSON string, expected an object"),
        (b"42", "payload is a JSON number, expected an object"),
        (b"true", "payload is a JSON boolean, expected an object"),
        (b"null", "payload is a JSON null, expected an object"),
        ([{"orderId": "A"}], "payload is a JSON list, expected an object"),
        (b"[" * 100_000, "payload is not JSON: nested too deeply"),
    ],
)
def test_malformed_payload_messages(raw, message):
    with pytest.raises(MalformedPayload) as info:
        parse_order(raw)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"amount": 100}, "orderId is missing"),
        ({"orderId": 42, "amount": 100}, "orderId must be a non-empty string, got 42"),
        ({"orderId": "", "amount": 100}, "orderId must be a non-empty string, got ''"),
        ({"orderId": "  ", "amount": 100}, "orderId must be a non-empty string, got '  '"),
        ({"orderId": None, "amount": 100}, "orderId must be a non-empty string, got None"),
        ({"orderId": "A"}, "amount is missing"),
        ({"orderId": "A", "amount": -50}, "Invalid amount -50"),
        ({"orderId": "A", "amount": 0}, "Invalid amount 0"),
        ({"orderId": "A", "amount": -0.5}, "Invalid amount -0.5"),
        ({"orderId": "A", "amount": float("nan")}, "Invalid amount nan"),
        ({"orderId": "A", "amount": float("inf")}, "Invalid amount inf"),
        ({"orderId": "A", "amount": "abc"}, "amount must be a number, got 'abc'"),
        ({"orderId": "A", "amount": "100"}, "amount must be a number, got '100'"),
        ({"orderId": "A", "amount": True}, "amount must be a number, got True"),
        ({"orderId": "A", "amount": None}, "amount must be a number, got None"),
        ({"orderId": "A", "amount": 1, "status": "FOO"},
         "Invalid status 'FOO' (allowed: PENDING, CONFIRMED, PAID, SHIPPED, DELIVERED, CANCELLED)"),
        ({"orderId": "A", "amount": 1, "status": "pending"},
         "Invalid status 'pending' (allowed: PENDING, CONFIRMED, PAID, SHIPPED, DELIVERED, CANCELLED)"),
        ({"orderId": "A", "amount": 1, "status": None},
         "Invalid status None (allowed: PENDING, CONFIRMED, PAID, SHIPPED, DELIVERED, CANCELLED)"),
    ],
)
def test_validation_messages(data, message):
    with pytest.raises(ValidationError) as info:
        validate(data)
    assert str(info.value) == message


def test_the_module_lab2_order_gives_the_module_dlt_message():
    with pytest.raises(ValidationError) as info:
        parse_order(b'{"orderId": "ORD-INVALID", "amount": -50, "status": "PENDING"}')
    assert describe(info.value) == "ValidationException: Invalid amount -50"


def test_json_nan_and_huge_numbers_are_invalid_amounts():
    with pytest.raises(ValidationError, match="Invalid amount nan"):
        parse_order(b'{"orderId": "A", "amount": NaN}')
    with pytest.raises(ValidationError, match="Invalid amount inf"):
        parse_order(b'{"orderId": "A", "amount": 1e400}')


def test_parse_rejects_non_payload_types():
    with pytest.raises(TypeError):
        parse_order(object())


@pytest.mark.parametrize("status", STATUSES)
def test_every_status_is_accepted(status):
    assert parse_order({"orderId": "A", "amount": 1, "status": status}).status == status


def test_orders_share_the_canonical_status_string():
    # an order store keeps one string per status, not one per order decoded from its payload
    data = json.loads(b'{"orderId": "A", "amount": 1, "status": "PAID"}')
    assert data["status"] is not STATUSES[2]
    assert validate(data).status is STATUSES[2]
    assert _first_broken_rule(data)[2] is STATUSES[2]


def test_sample_orders_are_lab1():
    orders = sample_orders(5)
    assert [o.order_id for o in orders] == ["ORD-1", "ORD-2", "ORD-3", "ORD-4", "ORD-5"]
    assert [o.amount for o in orders] == [100, 200, 300, 400, 500]
    assert {o.status for o in orders} == {"PENDING"}
    assert sample_orders(2, prefix="X-", start=7) == [Order("X-7", 700), Order("X-8", 800)]
    assert sample_orders(0) == []


valid_orders = st.builds(
    Order,
    order_id=st.text(min_size=1).filter(str.strip),
    amount=st.one_of(st.integers(1, 10**12), st.floats(min_value=1e-9, max_value=1e12)),
    status=st.sampled_from(STATUSES),
)


@given(valid_orders)
def test_round_trip(order):
    assert parse_order(order.to_json()) == order


@given(st.binary())
def test_any_bytes_give_an_order_or_a_permanent_error(raw):
    # a poison record must never crash the consumer with an unexpected exception
    try:
        order = parse_order(raw)
    except (MalformedPayload, ValidationError):
        return
    assert isinstance(order, Order)


@given(st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_any_json_value_gives_an_order_or_a_permanent_error(value):
    raw = json.dumps(value).encode()
    try:
        order = parse_order(raw)
    except (MalformedPayload, ValidationError):
        return
    assert isinstance(order, Order)


@given(st.one_of(st.binary(), valid_orders.map(Order.to_json)))
def test_parse_fields_is_parse_order_without_the_order(raw):
    def fields_of_order(value):
        order = parse_order(value)
        return order.order_id, order.amount, order.status

    assert _outcome(parse_fields, raw) == _outcome(fields_of_order, raw)


_EDGES = {  # each one breaks, or nearly breaks, one rule
    "orderId": ["", " ", "\u2003", " A ", None, 1, True, ["A"]],
    "amount": [0, -1, True, False, float("nan"), float("inf"), -float("inf"), 10**400, 1e-300, "1", None, [1]],
    "status": ["pending", "", None, 1, ["PENDING"], "PAID "],
}
_VALID = {"orderId": st.sampled_from(["ORD-1", "A"]),
          "amount": st.integers(1, 10**6) | st.floats(1e-3, 1e6),
          "status": st.sampled_from(STATUSES)}


def _outcome(function, *args):
    try:
        return repr(function(*args))
    except (MalformedPayload, ValidationError) as exc:
        return f"{type(exc).__name__}: {exc}"


@pytest.mark.parametrize("field, value",
                         [(f, v) for f, values in _EDGES.items() for v in values] + [("status", "absent")])
def test_each_edge_gets_the_same_verdict_from_the_fast_path_and_the_rules(field, value):
    # _fields() (validate, parse_order, parse_fields) accepts the usual order in one test and leaves
    # the rest to _first_broken_rule: both must give the same fields, or the same error message
    data = {"orderId": "ORD-1", "amount": 100, "status": "PAID"}
    if value == "absent":
        del data[field]
    else:
        data[field] = value
    assert _outcome(_fields, data) == _outcome(_first_broken_rule, data)


@given(st.fixed_dictionaries({}, optional={
    field: _VALID[field] | st.sampled_from(_EDGES[field]) for field in _EDGES
} | {"extra": st.integers()}))
def test_the_fast_path_agrees_with_the_rules_one_by_one(data):
    assert _outcome(_fields, data) == _outcome(_first_broken_rule, data)


@given(st.one_of(
    st.text(max_size=12),
    st.builds(lambda value, before, after: before + json.dumps(value) + after,
              st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=3), inner, max_size=3)),
              st.sampled_from(["", " ", "\ufeff", "\n"]), st.sampled_from(["", " ", "x", "\t", "{}"])),
))
def test_the_decoder_gives_what_json_loads_gives(text):
    try:
        expected = repr(json.loads(text))
    except ValueError as exc:
        expected = MalformedPayload
        message = str(exc)
    if expected is MalformedPayload:
        with pytest.raises(MalformedPayload) as caught:
            decode_json(text)
        assert message in str(caught.value) or str(caught.value) == "empty payload"
    else:
        assert repr(decode_json(text)) == expected
