"""Scenario g: resolve_intent cancels a fresh intent; the answer carries the intent, the event and
completion_delivery (no reply_to)."""

from _support import WAIT_SECONDS, client, emit

AGENT = "agent://default/default/py-resolved"

with client() as sender:
    intent_id = sender.send_intent(
        {"intent_type": "ops.deploy.v1", "to_agent": AGENT, "payload": {"service": "billing"}}
    )
    emit("sent", intent_id=intent_id)
    emit("resolved", body=sender.resolve_intent(intent_id, {"status": "CANCELED", "reason": "operator"}))
    emit("terminal", event=sender.wait_for(intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=30))
    emit("intent", body=sender.get_intent(intent_id))
