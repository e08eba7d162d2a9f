"""Human approvals through the whole fleet (real Redis, Celery workers, Docker): a run that asks
pauses in ``needs_approval`` with its container frozen and no worker slot held; a decision resumes
it in the same container on its machine's queue; a denial or the deadline ends it recorded."""

from __future__ import annotations

import http.server
import json
import subprocess
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import docker
import redis

from core.broker import make_celery
from core.settings import Settings
from scheduler.api import make_server
from tests.conftest import ROOT, RedisServer
from tests.fake_api import FakeAnthropicAPI, reply, text, tool_use
from tests.fleet.conftest import Fleet, write_tasks
from workers.fleet.reaper import reap_containers

ASKS = """
tasks:
  - name: {name}
    agent: script
    budgets: {{max_steps: 10, max_wall_s: 300}}
    approval: {{timeout_s: {timeout_s}}}
    steps:
      - {{name: bash, input: {{command: "echo kept-across-the-pause > /home/user/mark.txt"}}}}
      - {{name: request_approval, input: {{what: "accept the site's terms", why: "the download needs it"}}}}
      - {{name: bash, input: {{command: "cat /home/user/mark.txt"}}}}
"""
QUICK = """
tasks:
  - name: quick
    agent: script
    steps:
      - {name: bash, input: {command: "echo quick"}}
"""


class _Webhook:
    """A real HTTP endpoint that keeps what it is POSTed."""

    def __init__(self) -> None:
        bodies: list[dict[str, Any]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.bodies = bodies
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _container_status(container_id: str) -> str:
    done = subprocess.run(["docker", "inspect", "-f", "{{.State.Status}}", container_id],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "gone"


def _enqueue(fleet: Fleet, body: str, tmp_path: Path, name: str) -> str:
    done = fleet.cli("enqueue", str(write_tasks(tmp_path / f"{name}.yaml", body)))
    assert done.returncode == 0, done.stderr
    (run_id,) = done.stdout.split()
    return run_id


def _paused(fleet: Fleet, tmp_path: Path, timeout_s: float = 3600) -> tuple[str, str]:
    run_id = _enqueue(fleet, ASKS.format(name="asks", timeout_s=timeout_s), tmp_path, "asks")
    record = fleet.wait_state(run_id, {"needs_approval", "failed", "succeeded"}, timeout_s=120)
    assert record.state == "needs_approval", record
    assert record.container_id
    fleet.wait_for(lambda: _container_status(record.container_id) == "paused", 30, "docker pause")
    return run_id, record.container_id


def _run_dir(fleet: Fleet, run_id: str) -> Path:
    return Path(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"]) / "runs" / run_id / "attempt-1"


def _transcript(fleet: Fleet, run_id: str) -> list[dict[str, Any]]:
    text = (_run_dir(fleet, run_id) / "transcript.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_a_waiting_run_frees_the_only_slot_and_approval_resumes_it_in_the_same_container(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_WORKER_CONCURRENCY="1")
    try:
        fleet.start_worker()
        run_id, container_id = _paused(fleet, tmp_path)
        listed = fleet.cli("approvals")
        assert run_id in listed.stdout and "accept the site's terms" in listed.stdout, listed

        other = _enqueue(fleet, QUICK, tmp_path, "quick")  # the only slot is free: it runs now
        assert fleet.wait_state(other, {"succeeded", "failed"}, 120).state == "succeeded"
        assert fleet.records.get(run_id).state == "needs_approval"

        done = fleet.cli("approve", run_id, "--note", "fine, go ahead", "--by", "alice")
        assert done.returncode == 0, done.stdout + done.stderr
        record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
    finally:
        fleet.stop_all()

    assert record.state == "succeeded", record
    assert record.container_id == container_id and record.attempt == 1
    steps = record.result["steps"]
    assert "Approved by alice" in steps[1]["text"] and "fine, go ahead" in steps[1]["text"]
    assert steps[2]["text"].strip() == "kept-across-the-pause"  # the same container, its files intact
    assert _container_status(container_id) == "gone"
    approvals = [e for e in _transcript(fleet, run_id) if e["event"] == "approval"]
    assert [e["kind"] for e in approvals] == ["requested", "decided"]
    assert (approvals[1]["by"], approvals[1]["note"], approvals[1]["decision"]) == (
        "alice", "fine, go ahead", "approved")
    assert (_run_dir(fleet, run_id) / approvals[0]["screenshot"]).stat().st_size > 1000
    states = [e["state"] for e in fleet.records.events(run_id) if e["type"] == "state"]
    assert states == ["queued", "starting", "running", "needs_approval", "running", "succeeded"]
    decided = [e for e in fleet.records.events(run_id) if e["type"] == "approval_decided"]
    assert [(e["by"], e["note"]) for e in decided] == [("alice", "fine, go ahead")]
    manifest = json.loads((_run_dir(fleet, run_id) / "manifest.json").read_text())
    names = {o["name"] for o in manifest["objects"]}
    assert {"transcript.jsonl", "result.json", approvals[0]["screenshot"]} <= names
    report = (_run_dir(fleet, run_id) / "report.html").read_text()
    assert "asked: accept the site&#x27;s terms" in report and "approved by alice at " in report
    assert "fine, go ahead" in report


def test_a_denial_over_http_ends_the_run_failed_with_the_denial_recorded(
    fleet: Fleet, tmp_path: Path
) -> None:
    fleet.start_worker()
    run_id, container_id = _paused(fleet, tmp_path)
    settings = Settings(redis_url=fleet.env["NIGHTSHIFT_REDIS_URL"], queue_name=fleet.queue)
    server = make_server(settings, redis.Redis.from_url(settings.redis_url), make_celery(settings),
                         "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        body = json.dumps({"note": "not on a Sunday", "by": "bob"}).encode()
        post = urllib.request.Request(f"{server.url}/runs/{run_id}/deny", data=body, method="POST")
        with urllib.request.urlopen(post, timeout=30) as answer:
            assert json.loads(answer.read())["decision"] == "denied"
        record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
        again = urllib.request.Request(f"{server.url}/runs/{run_id}/approve", data=b"", method="POST")
        try:
            urllib.request.urlopen(again, timeout=30)
            raise AssertionError("a second decision was accepted")
        except urllib.error.HTTPError as exc:
            assert exc.code == 409
    finally:
        server.shutdown()

    assert record.state == "failed"
    assert "request_approval" in record.stop_reason and "Denied by bob" in record.stop_reason
    assert "not on a Sunday" in record.stop_reason
    assert (_run_dir(fleet, run_id) / "result.json").exists()
    fleet.wait_for(lambda: _container_status(container_id) == "gone", 30, "the container to go")


def test_no_decision_by_the_deadline_fails_the_run_removes_its_container_and_keeps_its_artifacts(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    hook = _Webhook()
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_REAPER_INTERVAL_S="1",
                  NIGHTSHIFT_APPROVAL_WEBHOOK_URL=hook.url)
    try:
        fleet.start_worker()
        run_id, container_id = _paused(fleet, tmp_path, timeout_s=4)
        record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
    finally:
        fleet.stop_all()
        hook.server.shutdown()

    (called,) = hook.bodies  # told once, when the run started waiting
    assert (called["event"], called["run_id"], called["what"]) == ("approval_requested", run_id,
                                                                   "accept the site's terms")

    assert (record.state, record.stop_reason) == ("failed", "approval timed out")
    assert _container_status(container_id) == "gone"
    result = json.loads((_run_dir(fleet, run_id) / "result.json").read_text())
    assert result["stop_reason"] == "approval timed out"
    decided = [e for e in _transcript(fleet, run_id) if e.get("kind") == "decided"]
    assert [(e["decision"], e["by"]) for e in decided] == [("timed_out", "deadline")]
    assert fleet.cli("approvals").stdout.strip() == "no run is waiting for an approval"


def test_a_worker_killed_while_a_run_waits_changes_nothing(fleet: Fleet, tmp_path: Path) -> None:
    fleet.start_worker("first")
    run_id, container_id = _paused(fleet, tmp_path)
    fleet.kill("first")
    fleet.start_worker("second")
    # no lease and a wall deadline do not make the paused sandbox an orphan to the reaper
    assert reap_containers(docker.from_env(), fleet.records, fleet.client, fleet.queue) == 0
    assert _container_status(container_id) == "paused"

    done = fleet.cli("approve", run_id)
    assert done.returncode == 0, done.stdout + done.stderr
    record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)

    assert record.state == "succeeded", (record.stop_reason, record.error)
    assert record.result["steps"][2]["text"].strip() == "kept-across-the-pause"


def test_a_claude_run_asks_through_request_approval_and_gets_the_note_back(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    task = """
tasks:
  - name: pays
    prompt: Pay the invoice in ~/invoice.txt.
    budgets: {max_steps: 5, max_wall_s: 300}
"""
    ask = {"what": "pay invoice 42 (120 EUR)", "why": "the task says to pay it"}
    with FakeAnthropicAPI() as api:
        api.enqueue(reply(tool_use("request_approval", ask)), reply(text("Paid.")))
        fleet = Fleet(redis_server, tmp_path, ANTHROPIC_API_KEY="sk-ant-test",
                      NIGHTSHIFT_ANTHROPIC_BASE_URL=api.base_url)
        try:
            fleet.start_worker()
            run_id = _enqueue(fleet, task, tmp_path, "pays")
            assert fleet.wait_state(run_id, {"needs_approval", "failed"}, 120).state == "needs_approval"
            pending = json.loads(fleet.cli("approvals", "--json").stdout)
            asked = [(p["run_id"], p["what"], p["why"]) for p in pending]
            assert asked == [(run_id, ask["what"], ask["why"])]
            assert len(api.requests) == 1
            fleet.cli("approve", run_id, "--note", "use the company card", "--by", "carol")
            record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
        finally:
            fleet.stop_all()

    assert record.state == "succeeded", record
    assert all(r.rejected is None for r in api.requests)
    tools = [t.get("name") for t in api.requests[0].body["tools"]]
    assert "request_approval" in tools
    assert "request_approval" in api.requests[0].body["system"][0]["text"]
    (answer,) = [b for b in api.requests[1].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert "Approved by carol" in json.dumps(answer) and "use the company card" in json.dumps(answer)
    assert not answer.get("is_error")
    assert api.requests[1].body["system"] == api.requests[0].body["system"]  # the same cached prefix
    assert record.steps == 2


def test_a_policy_holds_typing_into_a_matching_window_until_a_human_approves(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    task = """
tasks:
  - name: checkout
    prompt: Enter the card number.
    budgets: {max_steps: 5, max_wall_s: 300}
    approval: {before: [type], when_title: "(?i)payment"}
    setup:
      - "(DISPLAY=:1 nohup xterm -T 'Checkout - Payment' -e sleep 600 >/dev/null 2>&1 &)"
      - "ok=1; for i in $(seq 100); do DISPLAY=:1 xdotool search --name Payment windowactivate --sync;
         DISPLAY=:1 xdotool getactivewindow getwindowname | grep -q Payment && { ok=0; break; }; sleep 0.2;
         done; test $ok = 0"
"""
    with FakeAnthropicAPI() as api:
        api.enqueue(reply(tool_use("type", {"text": "4242"}, toolset=True)), reply(text("Entered.")))
        fleet = Fleet(redis_server, tmp_path, ANTHROPIC_API_KEY="sk-ant-test",
                      NIGHTSHIFT_ANTHROPIC_BASE_URL=api.base_url)
        try:
            fleet.start_worker()
            run_id = _enqueue(fleet, task, tmp_path, "checkout")
            paused = fleet.wait_state(run_id, {"needs_approval", "failed", "succeeded"}, 120)
            assert paused.state == "needs_approval", (paused.state, paused.error)
            (pending,) = json.loads(fleet.cli("approvals", "--json").stdout)
            assert pending["what"] == "type '4242' in the window 'Checkout - Payment'"
            fleet.cli("approve", run_id, "--by", "dave")
            record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
        finally:
            fleet.stop_all()

    assert record.state == "succeeded", record
    (answer,) = [b for b in api.requests[1].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert "Typed." in json.dumps(answer) and not answer.get("is_error")


SHOP_SERVER = """import http.server, pathlib
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        pathlib.Path("/tmp/posted").write_bytes(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<title>Thanks</title>thanks")
server = http.server.ThreadingHTTPServer(("127.0.0.1", 8000), lambda *a: Handler(*a, directory="/home/user"))
server.serve_forever()
"""
SHOP_PAGE = """<!doctype html><title>Checkout</title><style>button {position: fixed; inset: 0; width: 100%;
height: 100%}</style><form method="post" action="/done"><input type="hidden" name="card" value="4242">
<button>Pay</button></form>"""


def test_a_click_that_could_submit_a_form_on_a_listed_host_waits_for_a_human(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    """``submit_on``: the click on the form's button is held (nothing is posted while the run
    waits); approved, the held click runs and the form is posted; the check reads what arrived."""
    (tmp_path / "server.py").write_text(SHOP_SERVER)
    (tmp_path / "form.html").write_text(SHOP_PAGE)
    task = f"""
tasks:
  - name: shop
    prompt: Pay for the order.
    budgets: {{max_steps: 5, max_wall_s: 300}}
    approval: {{submit_on: [localhost]}}
    files:
      - {{src: {tmp_path}/server.py, dest: /home/user/server.py}}
      - {{src: {tmp_path}/form.html, dest: /home/user/form.html}}
    setup:
      - "(nohup python3 /home/user/server.py >/dev/null 2>&1 &)"
      - launch: {{command: "firefox-esr http://localhost:8000/form.html", wait_for_window: Checkout,
                  timeout_s: 90}}
      - "for i in $(seq 120); do ls /home/user/.mozilla/firefox/*/sessionstore-backups/recovery.jsonlz4
         && break; sleep 0.5; done"
    checks:
      - {{name: posted, run: "grep -q card=4242 /tmp/posted"}}
"""
    click = tool_use("left_click", {"coordinate": [512, 400]}, toolset=True)
    with FakeAnthropicAPI() as api:
        settle = tool_use("wait", {"duration": 2}, toolset=True)
        api.enqueue(reply(click), reply(settle), reply(text("Paid.")))
        fleet = Fleet(redis_server, tmp_path, ANTHROPIC_API_KEY="sk-ant-test",
                      NIGHTSHIFT_ANTHROPIC_BASE_URL=api.base_url)
        try:
            fleet.start_worker()
            run_id = _enqueue(fleet, task, tmp_path, "shop")
            paused = fleet.wait_state(run_id, {"needs_approval", "failed", "succeeded"}, 180)
            assert paused.state == "needs_approval", (paused.state, paused.error)
            (pending,) = json.loads(fleet.cli("approvals", "--json").stdout)
            asked_while_waiting = len(api.requests)
            fleet.cli("approve", run_id, "--by", "erin")
            record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
        finally:
            fleet.stop_all()

    assert pending["what"] == "left_click on http://localhost:8000/form.html"
    assert "submitting a form on localhost" in pending["why"]
    assert asked_while_waiting == 1  # the held click is unanswered while the run waits
    assert (record.state, record.verdict) == ("succeeded", "passed"), record
    (answer,) = [b for b in api.requests[1].body["messages"][-1]["content"] if b["type"] == "tool_result"]
    assert not answer.get("is_error")


def test_cancelling_a_waiting_run_ends_it_cancelled_and_removes_its_container(
    redis_server: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    fleet = Fleet(redis_server, tmp_path, NIGHTSHIFT_REAPER_INTERVAL_S="1")
    try:
        fleet.start_worker()
        run_id, container_id = _paused(fleet, tmp_path)
        assert fleet.cli("cancel", run_id).returncode == 0
        record = fleet.wait_state(run_id, {"cancelled", "failed", "succeeded"}, 120)
    finally:
        fleet.stop_all()

    assert record.state == "cancelled"
    assert _container_status(container_id) == "gone"
    assert (_run_dir(fleet, run_id) / "result.json").exists()


def test_the_readmes_four_commands_play_the_example(fleet: Fleet) -> None:
    fleet.start_worker()
    enqueued = fleet.cli("enqueue", str(ROOT / "examples/approval.yaml"))
    (run_id,) = enqueued.stdout.split()
    fleet.wait_state(run_id, {"needs_approval"}, 120)

    listed = fleet.cli("approvals")
    approved = fleet.cli("approve", run_id, "--note", "go ahead")
    record = fleet.wait_state(run_id, {"succeeded", "failed"}, 120)
    shown = fleet.cli("show", run_id)

    assert "send ~/draft.txt to finance@example.com" in listed.stdout
    assert approved.returncode == 0 and f"{run_id}: approved by " in approved.stdout
    assert record.state == "succeeded" and record.result["steps"][2]["text"].strip() == "sent"
    assert "succeeded" in shown.stdout
