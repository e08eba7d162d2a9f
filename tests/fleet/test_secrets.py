"""Secrets never leave the worker unredacted (issue 11, part 1).

A real fleet (its own redis-server writing an append-only file, a real Celery worker, real
sandboxes, the local Messages API server with the real SDK) runs a script task and two Claude tasks
that name a secret and print it in every way: bash echo, a file viewed in the editor, base64 at
every alignment, URL-encoded, in the text of a failing step (error and stop reason), in the
model's own text, an unexpected API stop reason and an API error message. Then every artifact,
every Redis key, the AOF on disk, the worker's log and the CLI's output are scanned: zero hits.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import redis

from core.redact import REDACTED
from tests.conftest import RedisServer
from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, error, reply, text, tool_use
from tests.fleet.conftest import Fleet, write_tasks

SECRET = "Nx7-s3cr3t+Välue=42&k/ey"
API_KEY = "sk-ant-test-worker-credential-0042"
EDITOR = "str_replace_based_edit_tool"
B64 = 'printf "{pre}%s" "$NS_SECRET" | base64 -w0; echo'
URL = ("python3 -c 'import os, urllib.parse as u; s = os.environ[\"NS_SECRET\"]; "
       "print(u.quote(s, safe=\"\"), u.quote_plus(s))'")
SCRIPT_TASK = {
    "name": "leaky-script",
    "agent": "script",
    "secrets": ["NS_SECRET"],
    "steps": [
        {"name": "bash", "input": {"command": 'echo "the secret is $NS_SECRET"'}},
        {"name": "bash", "input": {"command": "; ".join(B64.format(pre=p) for p in ("", "x", "xy", "tok="))}},
        {"name": "bash", "input": {"command": URL}},
        {"name": "bash", "input": {"command": 'printf "%s\\n" "$NS_SECRET" > /tmp/secret.txt'}},
        {"name": EDITOR, "input": {"command": "view", "path": "/tmp/secret.txt"}},
        {"name": "bash", "input": {"command": 'echo "failing with $NS_SECRET" >&2; exit 3'}},
    ],
}


def needles() -> dict[str, bytes]:
    """The forms the scan looks for, spelled out here independently of the redactor."""
    raw = SECRET.encode()
    found = {"raw": raw, "json": json.dumps(SECRET)[1:-1].encode(), "url": quote(SECRET, safe="").encode(),
             "url-lower": quote(SECRET, safe="").lower().encode(), "url-plus": quote_plus(SECRET).encode()}
    for offset in range(3):  # the characters of base64 that depend on the secret alone
        encoded = base64.b64encode(bytes(offset) + raw)
        found[f"base64+{offset}"] = encoded[-(-offset * 8 // 6):(offset + len(raw)) * 8 // 6]
    found["api key"] = API_KEY.encode()
    return found


def hits(where: str, data: bytes) -> list[str]:
    return [f"{where}: {name}" for name, needle in needles().items() if needle in data]


def claude_responder(request: Recorded) -> Reply:
    """Two Claude tasks, told apart by their prompt; each step by the number of messages."""
    prompt = json.dumps(request.messages[0]["content"])
    step = len(request.messages) // 2
    if "API error" in prompt:
        return error(400, f"invalid_request_error: your key {SECRET} looks odd")
    plays = [
        reply(tool_use("bash", {"command": 'echo "$NS_SECRET"; printf %s "$NS_SECRET" > /tmp/c.txt'})),
        reply(tool_use(EDITOR, {"command": "view", "path": "/tmp/c.txt"})),
        reply(text(f"I saw {SECRET}, or {base64.b64encode(SECRET.encode()).decode()} in base64."),
              stop_reason=f"odd_stop_{SECRET}"),
    ]
    return plays[min(step, len(plays) - 1)]


def scan_redis(client: redis.Redis) -> tuple[list[str], int]:
    found, keys = [], 0
    for key in client.scan_iter(count=1000):
        keys += 1
        found += hits(f"redis {key!r}", json.dumps(_value(client, key), default=repr).encode())
    return found, keys


def _value(client: redis.Redis, key: bytes) -> Any:
    kind = client.type(key).decode()
    read = {"string": client.get, "hash": client.hgetall, "list": lambda k: client.lrange(k, 0, -1),
            "set": client.smembers, "zset": lambda k: client.zrange(k, 0, -1, withscores=True),
            "stream": client.xrange}[kind]
    value: Any = read(key)
    return _text(value)


def _text(node: Any) -> Any:
    if isinstance(node, bytes):
        return node.decode("utf-8", "replace")
    if isinstance(node, dict):
        return {_text(k): _text(v) for k, v in node.items()}
    if isinstance(node, list | tuple | set):
        return [_text(item) for item in node]
    return node


def scan_files(root: Path, label: str) -> tuple[list[str], int]:
    found, files = [], 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            files += 1
            found += hits(f"{label} {path.relative_to(root)}", path.read_bytes())
    return found, files


def test_a_planted_secret_is_in_no_artifact_redis_key_aof_log_or_cli_output(
    own_redis: RedisServer, tmp_path: Path, sandbox_image: str
) -> None:
    tasks = {"tasks": [SCRIPT_TASK,
                       {"name": "leaky-claude", "prompt": "Find the secret.", "secrets": ["NS_SECRET"]},
                       {"name": "leaky-api", "prompt": "Cause an API error.", "secrets": ["NS_SECRET"]}]}
    with FakeAnthropicAPI() as api:
        api.responder = claude_responder
        fleet = Fleet(own_redis, tmp_path, NS_SECRET=SECRET, ANTHROPIC_API_KEY=API_KEY,
                      NIGHTSHIFT_ANTHROPIC_BASE_URL=api.base_url, NIGHTSHIFT_API_MAX_RETRIES="0")
        try:
            fleet.start_worker()
            done = fleet.cli("run", str(write_tasks(tmp_path / "leaky.yaml", json.dumps(tasks))), "--wait")
            records = {r.name: r for r in fleet.records.list()}
            shown = [fleet.cli(command, r.run_id) for r in records.values() for command in ("show", "status")]
            listed = fleet.cli("list")
        finally:
            fleet.stop_all()

    assert {name: r.state for name, r in records.items()} == {
        "leaky-script": "failed", "leaky-claude": "failed", "leaky-api": "failed"}, done.stdout + done.stderr
    # Each way of printing reached the record, redacted (so the scan below cannot pass by accident).
    script, claude, api_error = records["leaky-script"], records["leaky-claude"], records["leaky-api"]
    assert script.stop_reason == script.error and REDACTED in script.stop_reason
    outputs = [step["text"] for step in script.result["steps"]]
    assert [REDACTED in text for text in outputs] == [True, True, True, False, True, True], outputs
    assert outputs[1].count(REDACTED) == 4 and outputs[2].count(REDACTED) == 2
    assert REDACTED in claude.stop_reason and REDACTED in (claude.error or "")
    assert REDACTED in (api_error.error or "")
    # the model itself did see the value (only what leaves for storage, Redis, logs and the CLI is redacted)
    assert any(SECRET in json.dumps(r.body, ensure_ascii=False) for r in api.requests)

    found, files = scan_files(Path(fleet.env["NIGHTSHIFT_ARTIFACTS_DIR"]), "artifact")
    assert files >= 9 and found == []  # transcript, result, manifest of each run
    found, keys = scan_redis(redis.Redis.from_url(own_redis.url))
    assert keys >= 6 and found == []
    found, files = scan_files(Path(own_redis.dir), "redis dir")  # the append-only file: every write
    assert files >= 1 and found == []
    logs = b"".join(p.read_bytes() for p in tmp_path.glob("*.log"))
    assert b"run finished" in logs and hits("worker log", logs) == []
    cli_output = "".join(c.stdout + c.stderr for c in [done, listed, *shown]).encode()
    assert REDACTED.encode() in cli_output and hits("cli", cli_output) == []
