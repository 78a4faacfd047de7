import json


def reference_fix(entry):
    """A corrected order for what a producer bug broke (amount as text, status in lower case);
    None for what no code can fix (a negative amount, bytes that are not JSON): it stays in the DLT."""
    try:
        order = json.loads(entry.envelope.raw_value)
    except (TypeError, ValueError):
        return None
    if isinstance(order.get("amount"), str):
        try:
            order["amount"] = float(order["amount"])
        except ValueError:
            return None
    if isinstance(order.get("status"), str):
        order["status"] = order["status"].upper()
    if not isinstance(order.get("amount"), (int, float)) or order["amount"] <= 0:
        return None
    return order
