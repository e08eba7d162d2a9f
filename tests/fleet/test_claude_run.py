"""A Claude task through the whole fleet: the CLI enqueues the example batch's `release-date`
task, a real Celery worker starts a real sandbox, places the PDF, and runs the agent loop with the
real `anthropic` SDK against the local Messages API server (tests/fake_api.py)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ROOT, RedisServer
from tests.fake_api import FakeAnthropicAPI, reply, tool_use
from tests.fleet.conftest import Fleet

API_KEY = "sk-ant-test-never-in-artifacts"
LOOK = "ls -l /home/user/Documents && head -c 8 ~/Documents/report.pdf"


def test_a_claude_task_runs_through_the_fleet_and_returns_its_structured_result(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    with FakeAnthropicAPI() as api:
        api.enqueue(
            reply(tool_use("bash", {"command": LOOK})),
            reply(tool_use("submit_result", {"title": "Quarterly Report", "date": "2026-11-01"})),
        )
        fleet = Fleet(redis_server, tmp_path, ANTHROPIC_API_KEY=API_KEY,
                      NIGHTSHIFT_ANTHROPIC_BASE_URL=api.base_url)
        try:
            fleet.start_worker()
            done = fleet.cli("run", str(ROOT / "examples/batch.yaml"), "--wait", "--agent", "claude")
        finally:
            fleet.stop_all()

    assert done.returncode == 0, done.stdout + done.stderr
    (record,) = fleet.records.list()
    assert (record.name, record.state) == ("release-date", "succeeded")
    assert record.result == {"title": "Quarterly Report", "date": "2026-11-01"}
    assert all(r.rejected is None for r in api.requests)
    assert api.requests[0].body["model"] == "claude-sonnet-5-5"  # the example batch's model
    headers = api.requests[0].headers
    assert (headers.get("x-api-key") or headers.get("authorization", "").removeprefix("Bearer ")) == API_KEY
    (listing,) = [b for b in api.requests[1].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert "report.pdf" in json.dumps(listing) and "%PDF-" in json.dumps(listing)
    run_dir = Path(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"]) / record.artifact_prefix
    for path in run_dir.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path
    assert json.loads((run_dir / "result.json").read_text())["result"]["date"] == "2026-11-01"
