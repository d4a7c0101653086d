"""Scenario d: an intent with deadline_at a few seconds ahead that nobody resumes ends TIMED_OUT."""

from datetime import datetime, timedelta, timezone

from _support import WAIT_SECONDS, client, emit

AGENT = "agent://default/default/py-idle"

with client() as sender:
    deadline_at = (datetime.now(timezone.utc) + timedelta(seconds=3)).isoformat(timespec="milliseconds")
    intent_id = sender.send_intent(
        {
            "intent_type": "ops.expire.v1",
            "to_agent": AGENT,
            "deadline_at": deadline_at,
            "payload": {"nobody": "answers"},
        }
    )
    emit("sent", intent_id=intent_id, deadline_at=deadline_at)
    terminal = sender.wait_for(intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=30)
    emit("terminal", event=terminal)
    emit("intent", body=sender.get_intent(intent_id))
    emit("events", body=sender.list_intent_events(intent_id, since=0))
