"""Scenario c: an intent with reply_to; once it completes, the completion is in the reply_to
agent's inbox as a thread whose id is the intent id (SPEC §3 reply_to, reference §3.6)."""

import time

from _support import TIMEOUT_SECONDS, WAIT_SECONDS, client, complete_as_agent, emit, run_concurrently

AGENT = "agent://default/default/py-replier"
CALLER = "agent://default/default/py-caller"

with client() as sender:
    intent_id = sender.send_intent(
        {
            "intent_type": "ops.report.v1",
            "to_agent": AGENT,
            "reply_to": CALLER,
            "payload": {"report": "weekly"},
        }
    )
    emit("sent", intent_id=intent_id)
    done = run_concurrently(
        {
            "agent": lambda: complete_as_agent(AGENT, intent_id, {"rows": 3}),
            "wait_for": lambda: sender.wait_for(
                intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=TIMEOUT_SECONDS
            ),
        }
    )
    emit("terminal", event=done["wait_for"])
    # The completion reaches the inbox when the intent turns terminal; allow the delivery a moment.
    deadline = time.monotonic() + 15
    while True:
        inbox = sender.list_inbox(owner_agent=CALLER)
        threads = inbox.get("threads") or []
        if any(isinstance(t, dict) and t.get("thread_id") == intent_id for t in threads):
            break
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    emit("inbox", body=inbox)
    emit("thread", body=sender.get_inbox_thread(intent_id, owner_agent=CALLER))
