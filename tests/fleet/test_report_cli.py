"""``nightshift report RUN``: a worker renders a finished run's report.html again from its stored
artifacts, and the manifest stays true for the auditor."""

from __future__ import annotations

from pathlib import Path

from tests.fleet.conftest import Fleet, write_tasks
from workers.artifacts.attempt import verify
from workers.artifacts.report import REPORT
from workers.artifacts.store import LocalStore

TASK = """
tasks:
  - name: report-again
    agent: script
    steps:
      - {name: computer, input: {action: left_click, coordinate: [40, 40]}}
      - {name: bash, input: {command: echo hello}}
"""


def test_a_lost_report_is_rendered_again_and_the_manifest_stays_true(fleet: Fleet, tmp_path: Path) -> None:
    fleet.start_worker()
    done = fleet.cli("enqueue", str(write_tasks(tmp_path / "t.yaml", TASK)))
    (run_id,) = done.stdout.split()
    record = fleet.wait_state(run_id, {"succeeded", "failed"}, timeout_s=180)
    store = LocalStore(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"])
    page = Path(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"]) / record.artifact_prefix / REPORT
    first = page.read_bytes()
    page.unlink()
    assert verify(store, record.artifact_prefix) == [f"{REPORT}: missing"]

    again = fleet.cli("report", run_id, "--timeout", "120")

    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == f"report: {page.as_uri()}"
    again_page, steps = page.read_text(), "class=step "
    assert run_id in again_page and again_page.count(steps) == first.decode().count(steps) == 2
    assert verify(store, record.artifact_prefix) == []


def test_a_run_with_no_artifacts_is_refused_clearly(fleet: Fleet, tmp_path: Path) -> None:
    fleet.start_worker()
    unknown = fleet.cli("report", "no-such-run", "--timeout", "5")
    assert unknown.returncode == 1 and "no run with id" in unknown.stderr
