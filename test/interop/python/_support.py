"""Shared helpers for the interop scripts: the official AXME Python SDK (PyPI `axme`), used as a user
would use it. The scripts get AXME_BASE_URL and AXME_API_KEY from the environment (as the AXME
examples do), print one JSON object per line for test/interop/python-sdk.spec.ts to assert on, and
let any unexpected exception end the script with its traceback on stderr and a non-zero exit code.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from typing import Any, Callable

from axme_sdk import AxmeClient, AxmeClientConfig, AxmeHttpError

# Short long-poll windows keep every script fast; the SDK reconnects after each stream.timeout.
WAIT_SECONDS = 2
TIMEOUT_SECONDS = 60


def client(api_key: str | None = None) -> AxmeClient:
    return AxmeClient(
        AxmeClientConfig(
            base_url=os.environ["AXME_BASE_URL"],
            api_key=api_key if api_key is not None else os.environ["AXME_API_KEY"],
        )
    )


def emit(step: str, **fields: Any) -> None:
    print(json.dumps({"step": step, **fields}, sort_keys=True, default=str), flush=True)


def error_info(exc: BaseException | None) -> dict[str, Any] | None:
    """What a caller of the SDK can see of an error: its class, HTTP status and server body."""
    if exc is None:
        return None
    info: dict[str, Any] = {"class": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, AxmeHttpError):
        info["status_code"] = exc.status_code
        info["body"] = exc.body
        error = exc.body.get("error") if isinstance(exc.body, dict) else None
        info["code"] = error.get("code") if isinstance(error, dict) else None
    return info


def capture(fn: Callable[[], Any]) -> dict[str, Any]:
    """Runs an SDK call that is expected to fail; returns what it raised (or what it returned)."""
    try:
        value = fn()
    except Exception as exc:  # noqa: BLE001 - the spec asserts on the class
        return {"raised": error_info(exc)}
    return {"raised": None, "returned": value}


def complete_as_agent(address: str, intent_id: str, result: dict[str, Any]) -> dict[str, Any]:
    """An agent loop with its own client: listen on `address` until `intent_id` is delivered, then
    report its result with resume(action=complete). Deliveries of other intents are left alone
    (they belong to other scenarios). Returns the delivery it acted on and resume's answer."""
    agent = client()
    try:
        for delivery in agent.listen(address, wait_seconds=WAIT_SECONDS, timeout_seconds=TIMEOUT_SECONDS):
            if delivery.get("intent_id") != intent_id:
                continue
            response = agent.resume_intent(
                intent_id, {"action": "complete", "result": result}, owner_agent=address
            )
            return {"delivery": delivery, "resume": response}
    finally:
        agent.close()
    raise RuntimeError(f"listen on {address} ended without delivering {intent_id}")


def run_concurrently(tasks: dict[str, Callable[[], Any]], timeout: float = TIMEOUT_SECONDS + 15) -> dict[str, Any]:
    """Runs the tasks in daemon threads; returns their results by name, or raises the first failure
    at once (a stuck partner thread then dies with the process instead of holding it up)."""
    done: queue.Queue[tuple[str, BaseException | None, Any]] = queue.Queue()

    def runner(name: str, fn: Callable[[], Any]) -> None:
        try:
            done.put((name, None, fn()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
            done.put((name, exc, None))

    for name, fn in tasks.items():
        threading.Thread(target=runner, args=(name, fn), name=name, daemon=True).start()
    results: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while len(results) < len(tasks):
        try:
            name, exc, value = done.get(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            pending = sorted(set(tasks) - set(results))
            raise TimeoutError(f"still running after {timeout} s: {', '.join(pending)}") from None
        if exc is not None:
            raise RuntimeError(f"{name} failed: {exc!r}") from exc
        results[name] = value
    return results
