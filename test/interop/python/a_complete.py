"""Scenario a: send an intent, an agent loop completes it through listen + resume, the sender's
wait_for sees COMPLETED and get_intent shows the result."""

from _support import TIMEOUT_SECONDS, WAIT_SECONDS, client, complete_as_agent, emit, run_concurrently

AGENT = "agent://default/default/py-agent"
RESULT = {"deployed": True, "by": "py-agent"}

with client() as sender:
    emit("health", body=sender.health())
    intent_id = sender.send_intent(
        {
            "intent_type": "ops.deploy.v1",
            "to_agent": AGENT,
            "payload": {"service": "api-gateway", "version": "3.2.1"},
        }
    )
    emit("sent", intent_id=intent_id)
    done = run_concurrently(
        {
            "agent": lambda: complete_as_agent(AGENT, intent_id, RESULT),
            "wait_for": lambda: sender.wait_for(
                intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=TIMEOUT_SECONDS
            ),
        }
    )
    emit("agent", delivery=done["agent"]["delivery"], resume=done["agent"]["resume"])
    emit("terminal", event=done["wait_for"])
    emit("intent", body=sender.get_intent(intent_id))
