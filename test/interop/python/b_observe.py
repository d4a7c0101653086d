"""Scenario b: observe() yields every event of an intent, in order, from creation to its terminal
event, while an agent completes it; the same events as list_intent_events."""

from _support import TIMEOUT_SECONDS, WAIT_SECONDS, client, complete_as_agent, emit, run_concurrently

AGENT = "agent://default/default/py-observed"

with client() as sender:
    intent_id = sender.send_intent(
        {"intent_type": "ops.observe.v1", "to_agent": AGENT, "payload": {"watch": True}}
    )
    emit("sent", intent_id=intent_id)
    done = run_concurrently(
        {
            "agent": lambda: complete_as_agent(AGENT, intent_id, {"observed": True}),
            "observe": lambda: list(
                sender.observe(intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=TIMEOUT_SECONDS)
            ),
        }
    )
    emit("observed", events=done["observe"])
    emit("listed", body=sender.list_intent_events(intent_id, since=0))
