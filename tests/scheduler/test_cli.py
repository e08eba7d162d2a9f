"""The nightshift CLI end to end against a real redis-server; messages go through kombu for real.

Where a run must progress, a stand-in worker thread takes the Celery message off the broker list
and drives the record through the same ``records``/``events`` calls the real worker makes.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_lib
import structlog

from core import broker, events
from core.records import Records
from core.settings import Settings
from scheduler.cli import main
from tests.conftest import free_port
from tests.scheduler.conftest import EXAMPLE_BATCH, ROOT, queued_messages, write

RUN_ID = re.compile(r"^\d{8}T\d{9}-[0-9a-f]{10}$")
SCRIPT = "tasks:\n" + "".join(
    f"  - {{name: {n}, agent: script, steps: [{{name: bash, input: {{command: 'true'}}}}]}}\n"
    for n in ("alpha", "beta")
)


@pytest.fixture(autouse=True)
def cli_env(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NIGHTSHIFT_REDIS_URL", settings.redis_url)
    monkeypatch.setenv("NIGHTSHIFT_QUEUE_NAME", settings.queue_name)
    yield
    structlog.reset_defaults()  # main() configures logging for the process; leave none behind


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


class StandInWorker:
    """Consumes ``nightshift.run`` messages like a worker and plays a scripted outcome per name."""

    def __init__(self, url: str, settings: Settings, outcomes: dict[str, str], count: int) -> None:
        self.client = redis_lib.Redis.from_url(url)
        self.settings, self.outcomes, self.count = settings, outcomes, count
        self.thread = threading.Thread(target=self._work, daemon=True)

    def _work(self) -> None:
        for _ in range(self.count):
            _key, raw = self.client.brpop(broker.queue_keys(self.settings), timeout=60)  # type: ignore[misc]
            (run_id,), _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
            self._play(run_id)

    def _play(self, run_id: str) -> None:
        r = self.client
        name = Records(r).get(run_id).name
        Records(r).transition(run_id, "starting", 1, worker="stand-in")
        Records(r).transition(run_id, "running", 1)
        events.append(r, run_id, "step", step=1, text=f"bash: step 1 of {name}")
        # what the workers' progress hook sends: the step's numbers, no text
        events.append(r, run_id, "step", step=2, stop_reason="tool_use", tool_calls=1, tools_ms=12.4)
        Records(r).update(run_id, artifact_url=f"file:///artifacts/runs/{run_id}/attempt-1/")
        outcome = self.outcomes[name]
        Records(r).transition(
            run_id, outcome, 1, stop_reason="end_turn" if outcome == "succeeded" else "error"
        )


@pytest.fixture
def worker_factory(redis_server: Any, settings: Settings) -> Iterator[Any]:
    started: list[StandInWorker] = []

    def start(outcomes: dict[str, str], count: int) -> StandInWorker:
        worker = StandInWorker(redis_server.url, settings, outcomes, count)
        worker.thread.start()
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.thread.join(timeout=5)
        worker.client.close()


def test_enqueue_prints_one_run_id_per_line_and_queues_the_messages(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, settings: Settings
) -> None:
    code, out, _ = run_cli(capsys, "enqueue", str(EXAMPLE_BATCH))
    run_ids = out.split()
    assert code == 0 and len(run_ids) == 2 and all(RUN_ID.match(r) for r in run_ids)
    assert [Records(redis_client).get(r).state for r in run_ids] == ["queued", "queued"]
    assert sorted(m.args[0] for m in queued_messages(redis_client, settings)) == sorted(run_ids)


def test_enqueue_is_safe_from_system_cron(
    redis_client: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "NIGHTSHIFT_REDIS_URL": settings.redis_url,
        "NIGHTSHIFT_QUEUE_NAME": settings.queue_name,
    }
    proc = subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "enqueue", str(EXAMPLE_BATCH)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
        start_new_session=True,  # no controlling terminal, as under cron
    )
    assert proc.returncode == 0, proc.stderr
    assert all(RUN_ID.match(line) for line in proc.stdout.splitlines()) and len(proc.stdout.splitlines()) == 2
    assert len(queued_messages(redis_client, settings)) == 2


def test_an_invalid_file_enqueues_nothing_and_exits_non_zero(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, settings: Settings, tmp_path: Path
) -> None:
    good = write(tmp_path / "good.yaml", SCRIPT)
    bad = write(tmp_path / "bad.yaml", "name: q\nprompt: hi\nmodel: claude-2\n")
    code, out, err = run_cli(capsys, "enqueue", str(good), str(bad))
    assert code == 1 and out == ""
    assert f"{bad}:3: model: unknown model 'claude-2'" in err and "nothing was enqueued" in err
    assert Records(redis_client).list() == [] and queued_messages(redis_client, settings) == []


def test_a_missing_secret_enqueues_nothing_unless_the_check_is_skipped(
    capsys: pytest.CaptureFixture[str],
    redis_client: redis_lib.Redis,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("NS_TEST_SECRET", raising=False)
    path = write(tmp_path / "t.yaml", "name: q\nprompt: hi\nsecrets: [NS_TEST_SECRET]\n")
    code, _, err = run_cli(capsys, "enqueue", str(path))
    assert code == 1 and "secrets[0]: secret NS_TEST_SECRET is not set" in err
    assert Records(redis_client).list() == []

    code, out, _ = run_cli(capsys, "enqueue", "--no-check-secrets", str(path))
    assert code == 0 and len(out.split()) == 1


def test_agent_selects_the_tasks_to_run_after_validating_them_all(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, "enqueue", str(EXAMPLE_BATCH), "--agent", "script")
    assert code == 0 and len(out.split()) == 1 and "skipping 1 other task(s)" in err
    assert [r.name for r in Records(redis_client).list()] == ["hello-desktop"]

    code, _, err = run_cli(capsys, "enqueue", str(write(tmp_path / "t.yaml", SCRIPT)), "--agent", "claude")
    assert code == 1 and "no task with agent: claude" in err
    broken = write(tmp_path / "b.yaml", SCRIPT + "  - {name: c, prompt: hi, model: gpt-4}\n")
    assert run_cli(capsys, "enqueue", str(broken), "--agent", "script")[0] == 1
    assert len(Records(redis_client).list()) == 1


def test_validate_checks_without_enqueuing(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis
) -> None:
    assert run_cli(capsys, "validate", str(EXAMPLE_BATCH))[:2] == (0, "ok: 2 task(s) in 1 file(s)\n")
    assert Records(redis_client).list() == []


def test_run_wait_follows_progress_and_prints_where_the_artifacts_are(
    capsys: pytest.CaptureFixture[str], worker_factory: Any, tmp_path: Path
) -> None:
    worker_factory({"alpha": "succeeded", "beta": "succeeded"}, count=2)
    code, out, _ = run_cli(capsys, "run", str(write(tmp_path / "t.yaml", SCRIPT)), "--wait")

    assert code == 0
    run_ids = re.findall(r"^enqueued (\S+)$", out, re.M)
    assert len(run_ids) == 2
    for run_id, name in zip(run_ids, ("alpha", "beta"), strict=True):
        assert f"{name} [{run_id}] queued (attempt 0)" in out
        assert f"{name} [{run_id}] queued -> starting (attempt 1)" in out
        assert f"{name} [{run_id}] step 1: bash: step 1 of {name}" in out
        assert f"{name} [{run_id}] step 2: tool_use, 1 tool call(s), tools 12 ms" in out
        assert (
            f"{run_id} {name}: succeeded (end_turn); artifacts: file:///artifacts/runs/{run_id}/attempt-1/"
            in out
        )


def test_run_wait_exits_non_zero_unless_every_run_succeeded(
    capsys: pytest.CaptureFixture[str], worker_factory: Any, tmp_path: Path
) -> None:
    worker_factory({"alpha": "succeeded", "beta": "budget_exhausted"}, count=2)
    code, out, _ = run_cli(capsys, "run", str(write(tmp_path / "t.yaml", SCRIPT)), "--wait")
    assert code == 1
    assert re.search(r"beta: budget_exhausted \(error\); artifacts: file://", out)


def test_status_list_and_show_report_a_run(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    alpha, beta = run_cli(capsys, "enqueue", str(write(tmp_path / "t.yaml", SCRIPT)))[1].split()
    Records(redis_client).transition(beta, "starting", 1)
    Records(redis_client).update(
        beta,
        usage={"input_tokens": 5100, "output_tokens": 230},
        cost_usd=0.01875,
        artifact_url="s3://bucket/runs/x/attempt-1/",
    )
    Records(redis_client).transition(
        beta,
        "succeeded",
        1,
        stop_reason="end_turn",
        result={"title": "Nightshift Release Report", "date": "2025-03-14"},
    )

    code, out, _ = run_cli(capsys, "status", alpha)
    assert code == 0 and out.startswith(f"{alpha} queued attempt=0 alpha")
    code, out, _ = run_cli(capsys, "status")
    assert "queued=1" in out and "succeeded=1" in out and "broker queue: 2 message(s) waiting" in out
    code, out, _ = run_cli(capsys, "list", "--state", "succeeded")
    assert beta in out and alpha not in out
    code, out, _ = run_cli(capsys, "show", beta)
    for expected in (
        "state:      succeeded (attempt 1)",
        "stop:       end_turn",
        "cost:       $0.0187",
        "input_tokens=5100",
        "artifacts:  s3://bucket/runs/x/attempt-1/",
        '"date": "2025-03-14"',
    ):
        assert expected in out
    code, out, _ = run_cli(capsys, "show", beta, "--json")
    assert json.loads(out)["result"]["title"] == "Nightshift Release Report"


def test_cancel_stops_a_queued_run_now_and_asks_a_running_one(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis, tmp_path: Path
) -> None:
    alpha, beta = run_cli(capsys, "enqueue", str(write(tmp_path / "t.yaml", SCRIPT)))[1].split()
    Records(redis_client).transition(beta, "starting", 1)
    Records(redis_client).transition(beta, "running", 1)

    assert "cancelled (it had not started)" in run_cli(capsys, "cancel", alpha)[1]
    assert Records(redis_client).get(alpha).state == "cancelled"
    assert "cancel requested" in run_cli(capsys, "cancel", beta)[1]
    assert Records(redis_client).get(beta).state == "running"
    assert Records(redis_client).cancel_reason(beta) == "cancelled by user"
    assert "already finished (cancelled)" in run_cli(capsys, "cancel", alpha)[1]


def test_an_unknown_run_is_an_error(
    capsys: pytest.CaptureFixture[str], redis_client: redis_lib.Redis
) -> None:
    code, _, err = run_cli(capsys, "show", "20250101T000000000-0000000000")
    assert code == 1 and "no run with id 20250101T000000000-0000000000" in err


def test_an_unreachable_redis_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    code, out, err = run_cli(capsys, "--redis-url", url, "list")
    assert code == 1 and out == ""
    assert "Redis at redis://***@127.0.0.1" in err and "hunter2" not in err and "Traceback" not in err


def test_logs_go_to_stderr_not_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NIGHTSHIFT_LOG_LEVEL", "DEBUG")
    code, out, err = run_cli(capsys, "enqueue", str(write(tmp_path / "t.yaml", SCRIPT)))
    assert code == 0 and all(RUN_ID.match(line) for line in out.splitlines())
    assert "run.enqueued" in err
