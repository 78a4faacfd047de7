# One order of our own, posted the Python way; the checker then finds it on the broker.
reference_order_id = "ORD-ME-REF"
reference_reply = httpx.post(f"{api.url}/api/v1/orders", json={"orderId": reference_order_id, "amount": 42},
                             timeout=10)
print(reference_reply.status_code, reference_reply.json())
