"""Scenario e: create_intent with one idempotency key: the same body gives the same intent, another
body is refused with a 409 that the SDK raises as AxmeValidationError."""

from uuid import uuid4

from _support import capture, client, emit

AGENT = "agent://default/default/py-idem"

with client() as sender:
    key = f"py-idem-{uuid4()}"
    correlation_id = str(uuid4())
    body = {"intent_type": "ops.charge.v1", "to_agent": AGENT, "payload": {"amount": 42}}
    first = sender.create_intent(body, correlation_id=correlation_id, idempotency_key=key)
    emit("first", body=first)
    second = sender.create_intent(body, correlation_id=correlation_id, idempotency_key=key)
    emit("second", body=second)
    other = {**body, "payload": {"amount": 43}}
    emit(
        "conflict",
        **capture(lambda: sender.create_intent(other, correlation_id=correlation_id, idempotency_key=key)),
    )
