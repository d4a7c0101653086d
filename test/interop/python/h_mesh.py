"""Scenario h: the agent mesh through the SDK's mesh client: heartbeat with the metrics the SDK
buffers, list_agents with a health filter and its summary, get_agent, kill and resume (a second kill
changes nothing), list_events by type, and the SDK's error for an unknown agent. The admin agent
kills and resumes itself: deliveries to it stop only between those two calls."""

import uuid

from _support import capture, client, emit

with client() as admin:
    beat = admin.mesh.heartbeat(
        metrics={
            "intents_total": 2,
            "intents_succeeded": 1,
            "intents_failed": 1,
            "avg_latency_ms": 12.5,
            "cost_usd": 0.01,
        }
    )
    emit("heartbeat", body=beat)
    agent_id = beat["address_id"]
    emit("agents", body=admin.mesh.list_agents(health="healthy"))
    emit("agent", body=admin.mesh.get_agent(agent_id))
    emit("killed", body=admin.mesh.kill(agent_id))
    emit("killed_again", body=admin.mesh.kill(agent_id))
    emit("resumed", body=admin.mesh.resume(agent_id))
    emit("events", body=admin.mesh.list_events(event_type="agent.killed", limit=5))
    emit("unknown", **capture(lambda: admin.mesh.get_agent(str(uuid.uuid4()))))
