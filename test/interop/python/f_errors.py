"""Scenario f: the server's errors reach SDK users as the SDK's error classes: a malformed to_agent
(422), a wrong API key (401), resume and resolve of a COMPLETED intent (409)."""

from _support import (
    TIMEOUT_SECONDS,
    WAIT_SECONDS,
    capture,
    client,
    complete_as_agent,
    emit,
    run_concurrently,
)

AGENT = "agent://default/default/py-errors"

with client() as sender:
    emit(
        "malformed_to_agent",
        **capture(
            lambda: sender.send_intent(
                {"intent_type": "ops.deploy.v1", "to_agent": "agent://Not A Valid/Address!", "payload": {}}
            )
        ),
    )
    with client(api_key="axme_sa_00000000-0000-4000-8000-0000000bad00_" + "cd" * 32) as stranger:
        emit(
            "wrong_api_key",
            **capture(
                lambda: stranger.send_intent(
                    {"intent_type": "ops.deploy.v1", "to_agent": AGENT, "payload": {}}
                )
            ),
        )

    intent_id = sender.send_intent({"intent_type": "ops.deploy.v1", "to_agent": AGENT, "payload": {"n": 1}})
    done = run_concurrently(
        {
            "agent": lambda: complete_as_agent(AGENT, intent_id, {"done": True}),
            "wait_for": lambda: sender.wait_for(
                intent_id, wait_seconds=WAIT_SECONDS, timeout_seconds=TIMEOUT_SECONDS
            ),
        }
    )
    emit("completed", intent_id=intent_id, event=done["wait_for"])
    emit(
        "resume_completed",
        **capture(
            lambda: sender.resume_intent(
                intent_id, {"action": "complete", "result": {"again": True}}, owner_agent=AGENT
            )
        ),
    )
    emit(
        "resolve_completed",
        **capture(lambda: sender.resolve_intent(intent_id, {"status": "CANCELED", "reason": "too late"})),
    )
    emit("intent", body=sender.get_intent(intent_id))
