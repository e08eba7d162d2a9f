"""What a run delivers after its agent (issue 10): the files matching ``outputs`` copied out of the
real sandbox under ``outputs/`` with size and SHA-256 in the manifest, caps with what was skipped
and why, then the checks run in the sandbox, their results and the verdict in result.json and the
run record, in every outcome where the sandbox still answers."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from core.spec import TaskSpec
from tests.workers.conftest import MakeRuntime, assert_ended_clean, attempt_dir, new_run
from workers.artifacts.attempt import verify
from workers.runner import execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker

MAKE_FILES = (
    "mkdir -p /home/user/out/sub && printf 'alpha' > /home/user/out/a.txt && printf 'beta!' > "
    "/home/user/out/sub/b.txt && head -c 3000000 /dev/urandom > /tmp/big.bin"
)


def task(steps: list[str], **fields: Any) -> TaskSpec:
    calls = [{"name": "bash", "input": {"command": c}} for c in steps]
    spec = {"name": "deliver", "agent": "script", "steps": calls}
    return TaskSpec.model_validate({**spec, **fields})


def manifest_of(rt: Runtime, run_id: str) -> dict[str, dict[str, Any]]:
    manifest = json.loads((attempt_dir(rt, run_id, 1) / "manifest.json").read_text())
    return {entry["name"]: entry for entry in manifest["objects"]}


def test_outputs_are_copied_with_paths_hashes_and_sizes_and_checks_give_the_verdict(rt: Runtime) -> None:
    spec = task([MAKE_FILES], outputs=["/home/user/out", "/tmp/*.bin", "/nowhere/*.pdf"],
                checks=[{"name": "has-a", "run": "test -s /home/user/out/a.txt"},
                        {"name": "says-no", "run": "echo looking; echo missing >&2; exit 3"}])
    run_id = new_run(rt, spec)

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    root, manifest = attempt_dir(rt, run_id, 1), manifest_of(rt, run_id)
    for name in ("outputs/home/user/out/a.txt", "outputs/home/user/out/sub/b.txt", "outputs/tmp/big.bin"):
        data = (root / name).read_bytes()
        assert manifest[name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest[name]["size"] == len(data)
    assert (root / "outputs/home/user/out/a.txt").read_bytes() == b"alpha"
    assert (root / "outputs/tmp/big.bin").stat().st_size == 3_000_000
    assert result["outputs"]["skipped"] == [{"pattern": "/nowhere/*.pdf", "reason": "no file matches"}]
    assert verify(rt.store, f"runs/{run_id}/attempt-1/") == []
    checks = {c["name"]: c for c in result["checks"]}
    assert checks["has-a"]["passed"] and checks["has-a"]["exit_code"] == 0
    assert (checks["says-no"]["passed"], checks["says-no"]["exit_code"]) == (False, 3)
    assert "looking" in checks["says-no"]["output"] and "missing" in checks["says-no"]["output"]
    assert checks["says-no"]["duration_s"] >= 0
    record = rt.records.get(run_id)
    assert (record.state, record.verdict, result["verdict"]) == ("succeeded", "failed", "failed")
    assert [c["name"] for c in record.checks] == ["has-a", "says-no"]


def test_count_and_size_caps_skip_files_and_say_why(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(outputs_max_files=2, outputs_max_total_mb=0.001)  # 1048 bytes
    make = "mkdir -p /tmp/o && for n in 1 2 3; do printf 'x%.0s' $(seq 100) > /tmp/o/f$n; done; " \
           "head -c 5000 /dev/zero > /tmp/o/big"
    run_id = new_run(rt, task([make], outputs=["/tmp/o/big", "/tmp/o/f*"]))

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    assert [f["path"] for f in result["outputs"]["files"]] == ["/tmp/o/f1", "/tmp/o/f2"]
    skipped = {s["path"]: s["reason"] for s in result["outputs"]["skipped"]}
    assert "size cap" in skipped["/tmp/o/big"] and "count cap" in skipped["/tmp/o/f3"]
    assert "outputs/tmp/o/f3" not in manifest_of(rt, run_id)
    assert rt.records.get(run_id).verdict is None  # no checks: no verdict


def test_a_budget_exhausted_run_still_collects_its_outputs_and_runs_its_checks(rt: Runtime) -> None:
    spec = task(["echo done > /tmp/r.txt", "echo never"], budgets={"max_steps": 1},
                outputs=["/tmp/r.txt"], checks=[{"name": "wrote", "run": "grep -q done /tmp/r.txt"}])
    run_id = new_run(rt, spec)

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    record = rt.records.get(run_id)
    assert (record.state, record.verdict) == ("budget_exhausted", "passed")
    assert (attempt_dir(rt, run_id, 1) / "outputs/tmp/r.txt").read_text() == "done\n"
    assert result["checks"][0]["passed"] is True


def test_a_failed_run_collects_outputs_and_a_timed_out_check_fails_it(rt: Runtime) -> None:
    spec = task(["echo partial > /tmp/p.txt; exit 1"], outputs=["/tmp/p.txt"],
                checks=[{"name": "slow", "run": "sleep 30", "timeout_s": 1}])
    run_id = new_run(rt, spec)

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    record = rt.records.get(run_id)
    assert (record.state, record.verdict) == ("failed", "failed")
    assert (attempt_dir(rt, run_id, 1) / "outputs/tmp/p.txt").read_text() == "partial\n"
    (check,) = result["checks"]
    assert (check["timed_out"], check["exit_code"], check["passed"]) == (True, None, False)
    assert check["duration_s"] < 25


def test_secrets_are_redacted_from_check_output(rt: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NS_TEST_TOKEN", "s3cr3t-value-42")
    spec = task(["true"], secrets=["NS_TEST_TOKEN"], checks=[{"name": "leak", "run": "echo $NS_TEST_TOKEN"}])
    run_id = new_run(rt, spec)

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    assert result["checks"][0]["output"].strip() == "[REDACTED]"
    assert "s3cr3t" not in json.dumps(rt.records.get(run_id).checks)


def test_a_run_whose_sandbox_never_started_records_its_checks_as_not_run(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(sandbox_image="No-Such-Image", max_attempts=1)  # docker run refuses it at once
    run_id = new_run(rt, task(["true"], outputs=["/tmp/x"], checks=[{"name": "c", "run": "true"}]))

    execute_run(run_id, rt)

    result = assert_ended_clean(rt, run_id, 1)
    assert rt.records.get(run_id).verdict is None
    assert "skipped" in result["checks"][0] and result["outputs"]["skipped"][0]["pattern"] == "/tmp/x"
