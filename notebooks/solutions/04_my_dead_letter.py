# The API checks only the shape (JSON, an orderId, a numeric amount); the consumer also checks the
# status, so an unknown status is accepted (202) and then dead-lettered as a ValidationException.
reference_order_id = "ORD-BAD-STATUS"
reference_reply = httpx.post(f"{api.url}/api/v1/orders",
                             json={"orderId": reference_order_id, "amount": 10, "status": "SHIPPED-TO-MARS"},
                             timeout=10)
print(reference_reply.status_code, reference_reply.json())
