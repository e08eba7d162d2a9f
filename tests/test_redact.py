"""The run's Redactor and its three boundaries one by one: the forms it catches, the structlog
renderer (a traceback included), the records and events written to a real Redis, and the
artifacts (names, bytes, result.json and the manifest's hashes of what was stored)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import structlog

from core import logs, redact
from core.events import EventType
from core.records import Records
from core.redact import REDACTED, Redactor
from core.settings import Settings
from core.spec import TaskSpec
from core.states import RunState
from workers.artifacts.attempt import RunArtifacts, verify
from workers.artifacts.store import LocalStore

SECRET = "pa55/w0rd+é&Zq"


def test_every_form_of_a_secret_is_replaced() -> None:
    r = Redactor([SECRET, ""])
    for prefix in (b"", b"a", b"ab", b"user:"):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(prefix + SECRET.encode() + b"--tail").decode()
            assert REDACTED in r.text(encoded), (prefix, encoded)
    assert r.text(quote(SECRET, safe="")) == REDACTED
    assert r.text(re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(SECRET, safe=""))) == REDACTED
    assert r.text(json.dumps({"k": SECRET})) == json.dumps({"k": REDACTED})
    assert r.bytes(b"<" + SECRET.encode() + b">") == f"<{REDACTED}>".encode()
    assert r.deep({SECRET: [SECRET, 1, None]}) == {REDACTED: [REDACTED, 1, None]}
    assert SECRET not in repr(r) and not Redactor([""])


def test_log_lines_of_a_run_are_redacted_tracebacks_included() -> None:
    stream = io.StringIO()
    logs.configure(Settings(log_json=True), stream)
    try:
        log = structlog.get_logger("test")
        with redact.active(Redactor([SECRET])):
            log.info("inside", value=SECRET, **{SECRET: 1})
            try:
                raise ValueError(f"boom {SECRET}")
            except ValueError:
                log.exception("failed")
        log.info("outside", value="plain")
    finally:
        structlog.reset_defaults()
    lines = stream.getvalue()
    assert SECRET not in lines and json.dumps(SECRET)[1:-1] not in lines
    assert lines.count(REDACTED) >= 3 and "ValueError: boom" in lines and '"plain"' in lines


def test_records_written_through_a_redactor_hold_no_secret(redis_client: Any) -> None:
    plain = Records(redis_client)
    plain.create("r1", TaskSpec.model_validate({"name": "t", "prompt": "p"}))
    records = plain.redacted(Redactor([SECRET]))
    records.transition("r1", RunState.STARTING, 1)
    records.update("r1", result={"text": f"found {SECRET}"})
    records.event("r1", EventType.WAIT, reason=f"waiting on {SECRET}")
    records.transition("r1", RunState.FAILED, 1, error=SECRET, stop_reason=f"stop {SECRET}")
    record = plain.get("r1")
    assert (record.error, record.stop_reason, record.result) == (
        REDACTED, f"stop {REDACTED}", {"text": f"found {REDACTED}"})
    dump = json.dumps([plain.events("r1"), record.as_dict()], ensure_ascii=False)
    assert SECRET not in dump and dump.count(REDACTED) >= 5


def test_artifacts_store_and_hash_only_redacted_bytes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    artifacts = RunArtifacts(store, "runs/r/attempt-1/", redactor=Redactor([SECRET]))
    artifacts.append_line("transcript.jsonl", json.dumps({"text": SECRET}))
    artifacts.put(f"outputs/{SECRET}.txt", SECRET.encode(), "text/plain")
    manifest = artifacts.finalize({"error": SECRET, "steps": [{"text": SECRET}]})
    names = {entry["name"] for entry in manifest["objects"]}
    assert names == {"transcript.jsonl", f"outputs/{REDACTED}.txt", "result.json"}
    assert verify(store, "runs/r/attempt-1/") == []
    every = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET.encode() not in every and json.dumps(SECRET)[1:-1].encode() not in every
    assert json.loads(store.get("runs/r/attempt-1/result.json"))["error"] == REDACTED
