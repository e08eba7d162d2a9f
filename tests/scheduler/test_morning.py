"""A batch and its morning (issue 10): tasks enqueued together share a batch id (CLI, HTTP), and
`nightshift batch`, `junit` and `summary` present the batch's outcomes. Runs are driven through
the same records calls the worker makes, against a real redis-server; the JUnit file is validated
against the Jenkins/Ant JUnit schema (tests/junit.xsd)."""

from __future__ import annotations

import json
import threading
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import xmlschema

from core.records import Records
from core.settings import Settings
from scheduler.api import make_server
from tests.scheduler.conftest import cli, write

XSD = Path(__file__).resolve().parents[1] / "junit.xsd"
FOUR = "tasks:\n" + "".join(
    f"  - {{name: {n}, agent: script, tags: [nightly], steps: [{{name: bash, input: {{command: x}}}}]}}\n"
    for n in ("green", "red", "broke", "stopped")
)
FAILED_CHECK = {"name": "total", "run": "python3 check.py", "passed": False, "exit_code": 1,
                "duration_s": 0.2, "output": "expected 42, got 41 \x1b[31m<&>\x1b[0m"}


pytestmark = pytest.mark.usefixtures("cli_env")


def finish(records: Records, run_id: str, state: str, **fields: Any) -> None:
    """What a worker records: starting, running, then the terminal state with its fields."""
    records.transition(run_id, "starting", 1, artifact_url=f"file:///a/runs/{run_id}/attempt-1/")
    records.transition(run_id, "running", 1)
    records.transition(run_id, state, 1, **fields)


def played_batch(capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path) -> str:
    code, out, err = cli(capsys, "enqueue", str(write(tmp_path / "four.yaml", FOUR)))
    assert code == 0
    batch_id = err.split("batch ", 1)[1].split()[0]
    records = Records(redis_client)
    green, red, broke, stopped = out.split()
    finish(records, green, "succeeded", stop_reason="script complete", verdict="passed", cost_usd=0.25,
           usage={"input_tokens": 100, "output_tokens": 10},
           checks=[{"name": "saved", "passed": True, "exit_code": 0}])
    finish(records, red, "succeeded", stop_reason="script complete", verdict="failed", checks=[FAILED_CHECK],
           cost_usd=0.5, usage={"input_tokens": 200, "output_tokens": 20})
    finish(records, broke, "failed", stop_reason="SandboxGoneError", error="the sandbox died")
    records.cancel(stopped)
    return batch_id


def test_one_enqueue_is_one_batch_and_batch_shows_states_verdicts_cost_and_totals(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    batch_id = played_batch(capsys, redis_client, tmp_path)
    records = Records(redis_client)
    runs = records.batch(batch_id)
    assert [r.name for r in runs] == ["green", "red", "broke", "stopped"]
    assert {r.batch_id for r in runs} == {batch_id} and records.batches() == [batch_id]

    code, out, _ = cli(capsys, "batch", batch_id)
    lines = {line.split()[-1]: line for line in out.splitlines()[1:5]}
    assert code == 0
    assert "succeeded" in lines["green"] and "passed" in lines["green"] and "$0.2500" in lines["green"]
    assert "succeeded" in lines["red"] and " failed " in lines["red"]
    assert "cancelled" in lines["stopped"]
    total = out.splitlines()[-1]
    assert "4 run(s)" in total and "cost $0.7500" in total and "failed=1" in total
    assert cli(capsys, "batch", "nope")[0] == 1


def test_junit_is_valid_for_ci_readers_and_says_what_failed(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    batch_id = played_batch(capsys, redis_client, tmp_path)
    out_file = tmp_path / "out.xml"

    code, _, _ = cli(capsys, "junit", batch_id, str(out_file))

    assert code == 0
    xmlschema.XMLSchema(str(XSD)).validate(str(out_file))  # raises with the first violation
    suite = ET.parse(out_file).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("errors"),
            suite.get("skipped")) == (batch_id, "4", "1", "1", "1")
    cases = {case.get("name"): case for case in suite.iter("testcase")}
    assert cases["green"].find("failure") is None and cases["green"].get("classname") == "nightly"
    failure = cases["red"].find("failure")
    assert failure is not None and "checks failed: total" in (failure.get("message") or "")
    assert "expected 42, got 41" in (failure.text or "") and "<&>" in (failure.text or "")  # escaped
    assert "\x1b" not in (failure.text or "")  # control characters XML cannot carry are dropped
    error = cases["broke"].find("error")
    assert error is not None and "SandboxGoneError" in (error.get("message") or "")
    assert cases["stopped"].find("skipped") is not None
    assert "artifacts: file:///a/runs/" in (cases["green"].findtext("system-out") or "")


def test_summary_counts_states_and_verdicts_lists_failures_cost_and_slowest(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    played_batch(capsys, redis_client, tmp_path)

    code, out, _ = cli(capsys, "summary", "--since", "12h")

    assert code == 0
    assert "4 run(s)" in out
    assert "by state:    cancelled=1 failed=1 succeeded=2" in out
    assert "by verdict:  failed=1 none=2 passed=1" in out
    assert "cost:        $0.7500" in out and "input_tokens=300" in out
    assert "failures (2):" in out and "failing checks: total" in out and "the sandbox died" in out
    assert "slowest (3):" in out
    assert cli(capsys, "summary", "--since", "yesterday")[0] == 1


def test_a_post_is_one_batch_and_the_api_serves_it(
    redis_client: redis_lib.Redis, settings: Settings, celery_app: Any
) -> None:
    server = make_server(settings, redis_client, celery_app, host="127.0.0.1", port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        post = urllib.request.Request(f"{server.url}/runs", data=FOUR.encode(), method="POST")
        created = json.loads(urllib.request.urlopen(post, timeout=10).read())
        url = f"{server.url}/batches/{created['batch_id']}"
        batch = json.loads(urllib.request.urlopen(url, timeout=10).read())
    finally:
        server.shutdown()
        server.server_close()
    assert [r["run_id"] for r in batch["runs"]] == created["run_ids"] and len(created["run_ids"]) == 4
