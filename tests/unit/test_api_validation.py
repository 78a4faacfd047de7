"""Strings an order cannot carry: the API refuses them with a 422 naming the field (labkit.api.validation),
and the consumer's rules refuse an orderId UTF-8 cannot encode (labkit.orders)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from labkit.api.validation import ApiError, check_order
from labkit.errors import ValidationError
from labkit.orders import parse_fields, text_problem


def refused(body: bytes) -> ApiError:
    with pytest.raises(ApiError) as caught:
        check_order(body)
    return caught.value


@pytest.mark.parametrize("body, field, words", [
    (rb'{"orderId":"\ud800","amount":1}', "orderId", ["lone UTF-16 surrogate", "U+D800"]),
    (rb'{"orderId":"ORD-\udfff-1","amount":1}', "orderId", ["lone UTF-16 surrogate", "U+DFFF", "position 4"]),
    (rb'{"orderId":"\udc00\ud800","amount":1}', "orderId", ["lone UTF-16 surrogate"]),  # a pair the wrong way
    (rb'{"orderId":"A","amount":1,"status":"\ud800"}', "status", ["lone UTF-16 surrogate"]),
    (rb'{"orderId":"ORD-1\n","amount":1}', "orderId", ["control character", "U+000A"]),
    (rb'{"orderId":"ORD-\u001b[31m","amount":1}', "orderId", ["control character", "U+001B"]),
    (rb'{"orderId":"A\u0000","amount":1}', "orderId", ["control character", "U+0000"]),
    (rb'{"orderId":"A\tB","amount":1}', "orderId", ["control character", "U+0009"]),
    (rb'{"orderId":"A\u007f","amount":1}', "orderId", ["control character", "U+007F"]),
    (rb'{"orderId":"A\u0085","amount":1}', "orderId", ["control character", "U+0085"]),
])
def test_strings_an_order_cannot_carry_are_a_422_naming_the_field(body, field, words):
    error = refused(body)
    assert (error.status, error.error) == (422, "invalid_order")
    assert error.message.startswith(f"{field} ") and all(w in error.message for w in words), error.message
    error.message.encode("utf-8")  # the answer itself is printable UTF-8
    assert error.message.isprintable()


@pytest.mark.parametrize("body", [rb'{"orderId":["\ud800"],"amount":1}', rb'{"orderId":"A","amount":"\ud800"}',
                                  rb'{"orderId":"A","amount":1,"status":["\udfff"]}'])
def test_a_message_that_quotes_a_lone_surrogate_can_still_be_sent(body):
    error = refused(body)
    assert error.status == 422 and "\\ud" in error.message, error.message
    error.message.encode("utf-8")


def test_a_surrogate_pair_is_one_character_and_fine():
    order = check_order(rb'{"orderId":"ORD-\ud83d\ude00","amount":1}')  # an emoji, escaped as JSON does
    assert order.order_id == "ORD-\U0001f600" and order.to_json()


@given(st.text(min_size=1, max_size=20).filter(str.strip),
       st.text(st.characters(blacklist_categories=("Cs",)), max_size=10))
def test_what_the_api_accepts_can_always_be_produced(order_id, status):
    body = json.dumps({"orderId": order_id, "amount": 1, "status": status}).encode()
    try:
        order = check_order(body)
    except ApiError as error:
        assert error.status == 422 and "control character" in error.message
        assert text_problem(order_id, control=True)
        return
    assert order.to_json() and order.key  # UTF-8 encodes both: the producer cannot fail on them


@given(st.text(st.characters(codec="utf-8"), max_size=20))
def test_text_problem_is_none_exactly_for_text_an_id_may_be(text):
    problem = text_problem(text, control=True)
    has_control = any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)
    assert (problem is None) == (not has_control)


def test_the_consumer_refuses_an_order_id_utf8_cannot_encode():
    with pytest.raises(ValidationError, match="orderId contains a lone UTF-16 surrogate"):
        parse_fields(rb'{"orderId":"\ud800","amount":1}')
    # control characters are the API's refusal only: the consumer keeps its rules (they are printed escaped)
    assert parse_fields(rb'{"orderId":"A\nB","amount":1}')[0] == "A\nB"
