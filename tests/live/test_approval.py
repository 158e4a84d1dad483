"""promote_adapter with require_approval under the real services: the promotion waits as a required
action (HITL) whose request shows the gate and the metrics; approving it through the REST API the
UI uses moves production to exactly the reviewed version; rejecting leaves the alias alone."""

from __future__ import annotations

import json
import time

import pytest

from include.registry import AdapterRegistry

pytestmark = [pytest.mark.live, pytest.mark.slow]

NAME = "approval-demo"


def _registry(stack) -> AdapterRegistry:
    return AdapterRegistry("s3://llmops-adapters/registry", client=stack.s3())


def _register(stack, tmp_path, tag: str) -> int:
    src = tmp_path / tag
    src.mkdir()
    (src / "adapter_config.json").write_text(json.dumps({"tag": tag}))
    manifest = {
        "base_model": "tiny",
        "metrics": {"eval_loss": 1.25, "base_eval_loss": 2.5},
        "gate": {"passed": True, "reasons": []},
    }
    return _registry(stack).register(NAME, src, manifest).version  # a passing gate: becomes latest


#: states of a task parked for a human answer (3.3+: awaiting_input; before: deferred on HITLTrigger)
PARKED = ("awaiting_input", "deferred")


def _pending(stack, run_id: str, timeout: float = 600) -> dict:
    """The approval request once ``approve`` is parked. The request row is written a moment before
    the task parks; on SQLite (``make up``) an answer in that window is recorded but never resumes
    the task (the row locks that close it on Postgres are no-ops), so the test answers, as a human
    in the UI would, a parked task."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        details = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}/hitlDetails")["hitl_details"]
        ti = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}/taskInstances/approve")
        if details and ti["state"] in PARKED:
            return details[0]
        run = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}")
        assert run["state"] in ("queued", "running"), f"run ended without asking: {run['state']}"
        time.sleep(2)
    raise AssertionError("no required action appeared")


def _trigger(stack, conf: dict) -> str:
    body = {"logical_date": None, "conf": conf}
    return stack.api("/api/v2/dags/promote_adapter/dagRuns", body, "POST")["dag_run_id"]


def _answer(stack, run_id: str, option: str, timeout: float = 600) -> dict:
    """Answer the run's open request as a human in the UI would, until the run ends.

    An answer within about a second of parking resumes the task while the parked attempt's
    process is still exiting; the execution API then kills the resumed one ("the task shouldn't
    be running anymore") and the retry asks again (a new try, a new request). A human takes
    longer than that, and answers a request that appears again: so does this (once per try, at
    most ``retries + 1`` times)."""
    path = f"/api/v2/dags/promote_adapter/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"
    answered: set[int] = set()
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}")
        if run["state"] in ("success", "failed"):
            return run
        ti = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}/taskInstances/approve")
        if ti["state"] in PARKED and ti["try_number"] not in answered:
            time.sleep(5)
            stack.api(path, {"chosen_options": [option], "params_input": {}}, "PATCH")
            answered.add(ti["try_number"])
            assert len(answered) <= 3, f"asked {len(answered)} times: {sorted(answered)}"
        time.sleep(3)
    ti = stack.api(f"/api/v2/dags/promote_adapter/dagRuns/{run_id}/taskInstances/approve")
    raise AssertionError(
        f"run {run_id} not finished in {timeout:.0f}s; approve {ti['state']} try "
        f"{ti['try_number']}, answered tries {sorted(answered)}"
    )


def test_promotion_waits_for_approval_with_the_gate_metrics(stack, tmp_path):
    version = _register(stack, tmp_path, "a")
    conf = {"adapter_name": NAME, "require_approval": True}

    run_id = _trigger(stack, conf)
    detail = _pending(stack, run_id)
    assert detail["subject"] == f"Promote {NAME} v{version} to production?"
    assert "gate: **passed**" in detail["body"] and "eval_loss: 1.25" in detail["body"]
    assert detail["options"] == ["Approve", "Reject"]
    assert _answer(stack, run_id, "Approve")["state"] == "success", stack.task_states(
        "promote_adapter", run_id
    )
    assert _registry(stack).aliases(NAME)["production"] == version

    newer = _register(stack, tmp_path, "b")
    run_id = _trigger(stack, conf)
    _pending(stack, run_id)
    assert _answer(stack, run_id, "Reject")["state"] == "success", stack.task_states(
        "promote_adapter", run_id
    )
    assert stack.task_states("promote_adapter", run_id)["promote"] == "skipped"
    assert _registry(stack).aliases(NAME)["production"] == version != newer
