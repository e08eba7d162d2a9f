"""The HTTP enqueue API on a real socket, backed by the real test redis-server."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis as redis_lib
from pydantic import SecretStr

from core.errors import ConfigError
from core.records import Records
from core.settings import Settings
from scheduler.api import make_server
from tests.conftest import free_port, wait_for_port
from tests.scheduler.conftest import ROOT, queued_messages

TASK = "name: smoke\nagent: script\nsteps: [{name: bash, input: {command: 'true'}}]\n"
Call = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def api(settings: Settings, redis_client: redis_lib.Redis, celery_app: Any) -> Iterator[Callable[..., Call]]:
    servers = []

    def start(**overrides: Any) -> Call:
        server = make_server(settings.model_copy(update=overrides), redis_client, celery_app, "127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)

        def call(method: str, path: str, body: str | None = None, token: str | None = None) -> Any:
            request = urllib.request.Request(
                server.url + path, data=body.encode() if body else None, method=method
            )
            if token:
                request.add_header("Authorization", f"Bearer {token}")
            try:
                with urllib.request.urlopen(request, timeout=30) as reply:
                    return reply.status, json.loads(reply.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        return call

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_post_runs_enqueues_and_get_reads_the_record(
    api: Any, redis_client: redis_lib.Redis, settings: Settings
) -> None:
    call = api()
    status, body = call("POST", "/runs", "tasks:\n  - " + TASK.replace("\n", "\n    ").rstrip() + "\n")
    assert status == 201 and len(body["run_ids"]) == 1
    (run_id,) = body["run_ids"]
    assert [m.args for m in queued_messages(redis_client, settings)] == [[run_id]]

    status, record = call("GET", f"/runs/{run_id}")
    assert status == 200 and (record["state"], record["name"], record["source"]) == ("queued", "smoke", "api")
    status, listing = call("GET", "/runs?state=queued")
    assert [r["run_id"] for r in listing["runs"]] == [run_id]


def test_a_json_body_is_a_task_file_too(api: Any) -> None:
    body = json.dumps(
        {"name": "j", "agent": "script", "steps": [{"name": "bash", "input": {"command": "true"}}]}
    )
    assert api()("POST", "/runs", body)[0] == 201


def test_an_invalid_task_answers_400_with_every_problem_and_enqueues_nothing(
    api: Any, redis_client: redis_lib.Redis
) -> None:
    status, body = api()("POST", "/runs", "name: q\nprompt: hi\nmodel: gpt-4\ncolour: red\n")
    assert status == 400
    assert [(p["line"], p["field"]) for p in body["problems"]] == [(4, "colour")]
    status, body = api()("POST", "/runs", "name: q\nprompt: hi\nmodel: gpt-4\n")
    assert [(p["line"], p["field"]) for p in body["problems"]] == [(3, "model")]
    assert Records(redis_client).list() == []


def test_input_files_cannot_be_named_over_http(api: Any) -> None:
    status, body = api()("POST", "/runs", "name: q\nprompt: hi\nfiles: [{src: /etc/passwd, dest: /tmp/p}]\n")
    assert status == 400 and body["problems"][0]["field"] == "files[0].src"


def test_cancel_and_unknown_runs(api: Any, redis_client: redis_lib.Redis) -> None:
    call = api()
    (run_id,) = call("POST", "/runs", TASK)[1]["run_ids"]
    assert call("POST", f"/runs/{run_id}/cancel") == (200, {"outcome": "cancelled"})
    assert Records(redis_client).get(run_id).state == "cancelled"
    assert call("GET", "/runs/nope")[0] == 404
    assert call("GET", "/elsewhere")[0] == 404


def test_a_configured_token_is_required_except_for_health(api: Any) -> None:
    call = api(api_token=SecretStr("s3cret"))
    assert call("POST", "/runs", TASK)[0] == 401
    assert call("POST", "/runs", TASK, token="wrong")[0] == 401
    assert call("POST", "/runs", TASK, token="s3cret")[0] == 201
    assert call("GET", "/healthz") == (200, {"ok": True})


def test_without_a_token_the_api_listens_on_loopback_only(
    settings: Settings, redis_client: redis_lib.Redis, celery_app: Any
) -> None:
    with pytest.raises(ConfigError, match="NIGHTSHIFT_API_TOKEN"):
        make_server(settings, redis_client, celery_app, "0.0.0.0", 0)


def test_an_oversized_body_is_refused(api: Any) -> None:
    status, _ = api(api_max_body_kb=1)("POST", "/runs", TASK + "setup: ['" + "x" * 2000 + "']\n")
    assert status == 413


def test_python_dash_m_scheduler_api_serves_from_the_environment(settings: Settings) -> None:
    port = free_port()
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(ROOT),
        "NIGHTSHIFT_REDIS_URL": settings.redis_url,
        "NIGHTSHIFT_API_PORT": str(port),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "scheduler.api"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout_s=30)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as reply:
            assert json.loads(reply.read()) == {"ok": True}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_retired_model_answers_400_and_a_deprecated_one_a_warning(api: Any) -> None:
    status, body = api()("POST", "/runs", "name: q\nprompt: hi\nmodel: claude-sonnet-4-5\n")
    assert status == 400 and "use 'claude-sonnet-5-5'" in body["problems"][0]["message"]
    status, body = api()("POST", "/runs", "name: q\nprompt: hi\nmodel: claude-opus-4-5\n")
    assert status == 201 and "retires on 2027-01-22" in body["warnings"][0]["message"]
