"""The local directory store and a run's artifacts on it (no server needed)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from core.settings import Settings
from workers.artifacts.attempt import RunArtifacts, artifact_prefix, verify
from workers.artifacts.build import build_store
from workers.artifacts.store import LocalStore


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_objects_round_trip_and_list_by_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put("runs/a/attempt-1/screenshots/0001.png", b"\x89PNG one", "image/png")
    store.put("runs/a/attempt-1/transcript.jsonl", b"{}\n", "application/x-ndjson")
    store.put("runs/ab/attempt-1/result.json", b"{}", "application/json")
    store.put("runs/a/attempt-1/screenshots/0001.png", b"\x89PNG two", "image/png")

    assert store.get("runs/a/attempt-1/screenshots/0001.png") == b"\x89PNG two"
    assert store.list("runs/a/") == [
        "runs/a/attempt-1/screenshots/0001.png",
        "runs/a/attempt-1/transcript.jsonl",
    ]
    assert store.list("runs/a") == [*store.list("runs/a/"), "runs/ab/attempt-1/result.json"]
    assert store.list("runs/zzz/") == []
    assert store.url("runs/a/attempt-1/") == (tmp_path / "runs/a/attempt-1").as_uri()


def test_a_missing_object_is_a_key_error(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        LocalStore(tmp_path).get("runs/nope/result.json")


@pytest.mark.parametrize("key", ["/etc/passwd", "runs/../../etc/passwd", "runs//x", "", "runs/./x"])
def test_keys_cannot_escape_the_root(tmp_path: Path, key: str) -> None:
    with pytest.raises(ValueError, match="invalid artifact key"):
        LocalStore(tmp_path / "root").put(key, b"x")


def test_build_store_defaults_to_a_local_directory(tmp_path: Path) -> None:
    store = build_store(Settings(artifacts_dir=tmp_path / "artifacts"))
    assert isinstance(store, LocalStore) and store.root == tmp_path / "artifacts"


def test_artifacts_are_written_as_the_run_goes_with_a_live_manifest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    run = RunArtifacts(store, artifact_prefix("run-1", 1))
    run.append_line("transcript.jsonl", json.dumps({"step": 1}))
    run.put("screenshots/0001.png", b"\x89PNG...", "image/png")
    run.append_line("transcript.jsonl", json.dumps({"step": 2}))

    # a crash now loses nothing written so far, and the manifest already accounts for it
    prefix = "runs/run-1/attempt-1/"
    assert store.get(prefix + "transcript.jsonl") == b'{"step": 1}\n{"step": 2}\n'
    manifest = json.loads(store.get(prefix + "manifest.json"))
    assert manifest["complete"] is False
    assert [o["name"] for o in manifest["objects"]] == ["screenshots/0001.png", "transcript.jsonl"]
    assert verify(store, prefix) == []


def test_finalize_writes_the_result_then_a_complete_manifest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    run = RunArtifacts(store, artifact_prefix("run-1", 2))
    run.append_line("transcript.jsonl", '{"step": 1}')
    manifest = run.finalize({"stop_reason": "end_turn", "answer": {"title": "T"}})

    prefix = "runs/run-1/attempt-2/"
    assert json.loads(store.get(prefix + "result.json"))["answer"] == {"title": "T"}
    assert json.loads(store.get(prefix + "manifest.json")) == manifest
    assert manifest["complete"] is True
    entries = {o["name"]: o for o in manifest["objects"]}
    assert set(entries) == {"result.json", "transcript.jsonl"}
    assert entries["result.json"]["key"] == "runs/run-1/attempt-2/result.json"
    result = store.get(prefix + "result.json")
    assert (entries["result.json"]["size"], entries["result.json"]["sha256"]) == (len(result), sha(result))


def test_an_auditor_sees_a_changed_or_lost_object(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    run = RunArtifacts(store, "runs/r/attempt-1/")
    run.put("a.txt", b"original", "text/plain")
    run.put("b.txt", b"kept", "text/plain")
    run.finalize({})
    store.put("runs/r/attempt-1/a.txt", b"tampered")
    (tmp_path / "runs/r/attempt-1/b.txt").unlink()
    assert verify(store, "runs/r/attempt-1/") == [
        "a.txt: size or SHA-256 differs from the manifest",
        "b.txt: missing",
    ]


def test_each_attempt_keeps_its_own_prefix(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    settings = Settings(artifacts_dir=tmp_path)
    first = RunArtifacts.for_attempt(store, settings, "run-9", 1)
    first.append_line("transcript.jsonl", '{"step": 1, "attempt": 1}')
    second = RunArtifacts.for_attempt(store, settings, "run-9", 2)
    second.append_line("transcript.jsonl", '{"step": 1, "attempt": 2}')

    assert store.get("runs/run-9/attempt-1/transcript.jsonl") == b'{"step": 1, "attempt": 1}\n'
    assert store.get("runs/run-9/attempt-2/transcript.jsonl") == b'{"step": 1, "attempt": 2}\n'
    assert second.url() == (tmp_path / "runs/run-9/attempt-2").as_uri()


def test_the_manifest_is_not_writable_by_callers(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"manifest\.json"):
        RunArtifacts(LocalStore(tmp_path), "runs/r/attempt-1/").put(
            "manifest.json", b"{}", "application/json"
        )
