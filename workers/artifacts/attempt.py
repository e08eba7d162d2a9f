"""One run attempt's artifacts under one prefix: ``runs/<run id>/attempt-<n>/``.

``RunArtifacts`` is the ``ArtifactSink`` (workers/artifacts/sink.py) the transcript writer uses. Objects are
written as the run goes, so a crash loses at most the step in flight:

- ``put`` writes an object at once (screenshots, reports).
- ``append_line`` keeps the text object in memory and re-puts it whole after every line. One
  ``transcript.jsonl`` is simpler to audit than numbered chunks, and transcripts hold no base64
  (screenshots are separate objects), so re-putting stays cheap.
- ``manifest.json`` lists every object (name under the prefix, full store key, size, SHA-256).
  It is rewritten after each object (``"complete": false``) and last of all by ``finalize``
  (``"complete": true``), after ``result.json``.

A redelivered run writes under ``attempt-<n+1>/``; the dead attempt's objects stay.

This is the artifacts' one redaction boundary: every object's name and bytes (transcript lines,
screenshots, result, reports, outputs) pass the run's ``Redactor`` before they are stored and
hashed, so the manifest lists what the store holds and no writer needs to redact on its own.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from core.redact import NOTHING, Redactor
from core.settings import Settings
from workers.artifacts.store import ArtifactStore, check_key

MANIFEST = "manifest.json"
REPORT = "report.html"
Render = Callable[[Callable[[str], bytes]], bytes]  # read(name) -> the page
log = structlog.get_logger("nightshift.artifacts")
RESULT = "result.json"
_TEXT_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".html": "text/html"}


def artifact_prefix(run_id: str, attempt: int, root: str = "runs") -> str:
    root = root.strip("/")
    return f"{root}/{run_id}/attempt-{attempt}/" if root else f"{run_id}/attempt-{attempt}/"


def text_content_type(name: str) -> str:
    for suffix, content_type in _TEXT_TYPES.items():
        if name.endswith(suffix):
            return content_type
    return "text/plain; charset=utf-8"


class RunArtifacts:
    """Writes one attempt's objects and keeps its manifest. Thread-safe."""

    def __init__(
        self, store: ArtifactStore, prefix: str, *, live_manifest: bool = True, redactor: Redactor = NOTHING
    ) -> None:
        self.store = store
        self.redactor = redactor
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.live_manifest = live_manifest
        self._objects: dict[str, dict[str, Any]] = {}
        self._lines: dict[str, bytearray] = {}
        self._kept: dict[str, bytes] = {}  # what this attempt wrote: the report reads it back from here
        self._lock = threading.Lock()
        self._started = time.time()

    @classmethod
    def for_attempt(
        cls, store: ArtifactStore, settings: Settings, run_id: str, attempt: int, redactor: Redactor = NOTHING
    ) -> RunArtifacts:
        """The run's prefix under ``settings.s3_prefix`` (default ``runs``), for both stores."""
        return cls(store, artifact_prefix(run_id, attempt, settings.s3_prefix), redactor=redactor)

    def url(self, name: str = "") -> str:
        """Where a human finds the attempt's artifacts (or one object of it)."""
        return self.store.url(self.prefix + name)

    # --- the ArtifactSink protocol ---------------------------------------------------------------

    def put(self, name: str, data: bytes, content_type: str) -> None:
        name, data = self.redactor.text(name), self.redactor.bytes(data)
        with self._lock:
            self._write(name, data, content_type)
            if self.live_manifest:
                self._write_manifest(complete=False)

    def put_file(self, name: str, path: Path, content_type: str, *, size: int, sha256: str) -> None:
        """Store a file streamed from disk (an output); ``size`` and ``sha256`` were computed while
        it was copied, so the file is read once more only by the upload itself. Its name (the
        outputs' listing) is redacted; its bytes are the agent's work and are kept as made."""
        name = self.redactor.text(name)
        with self._lock:
            self.store.put_file(self.prefix + check_key(name), path, content_type)
            self._objects[name] = {"key": self.prefix + name, "size": size, "sha256": sha256,
                                   "content_type": content_type}
            if self.live_manifest:
                self._write_manifest(complete=False)

    def append_line(self, name: str, line: str) -> None:
        if "\n" in line:
            raise ValueError("append_line takes one line without newlines")
        name, line = self.redactor.text(name), self.redactor.text(line)  # the line, not the whole object
        with self._lock:
            buffer = self._lines.setdefault(name, bytearray())
            buffer += line.encode() + b"\n"
            self._write(name, bytes(buffer), text_content_type(name))
            if self.live_manifest:
                self._write_manifest(complete=False)

    # --- a run paused for an approval goes on in another process --------------------------------

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            lines = {name: bytes(data).decode() for name, data in self._lines.items()}
            return {"objects": dict(self._objects), "lines": lines, "started": self._started}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._objects = dict(state["objects"])
            self._lines = {name: bytearray(text.encode()) for name, text in state["lines"].items()}
            self._started = float(state["started"])

    # --- the end of the attempt ------------------------------------------------------------------

    def finalize(self, result: dict[str, Any], report: Render | None = None) -> dict[str, Any]:
        """Write ``result.json``, then ``report.html`` (rendered by ``report`` from the stored
        objects, so from redacted bytes; a failing render is logged, never fatal), then
        ``manifest.json`` last; returns the manifest."""
        data = self.redactor.bytes(json.dumps(self.redactor.deep(result), indent=2, sort_keys=True,
                                              default=str).encode())
        with self._lock:
            self._write(RESULT, data, "application/json")
            if report is not None:
                self._write_report(report)
            return self._write_manifest(complete=True)

    def read(self, name: str) -> bytes:
        """One object of this attempt: what it wrote itself comes from memory (a write-behind store
        may still be uploading it), anything else from the store (KeyError when missing)."""
        if name in self._kept:
            return self._kept[name]
        return self.store.get(self.prefix + name)

    def _write_report(self, report: Render) -> None:
        try:
            self._write(REPORT, report(self.read), "text/html; charset=utf-8")
        except Exception as exc:  # the run's record and artifacts matter more than its page
            log.warning("report.render_failed", prefix=self.prefix, error=f"{type(exc).__name__}: {exc}")

    def manifest(self, complete: bool = False) -> dict[str, Any]:
        objects = [{"name": name, **meta} for name, meta in sorted(self._objects.items())]
        return {
            "prefix": self.prefix,
            "complete": complete,
            "started_at": self._started,
            "written_at": time.time(),
            "objects": objects,
        }

    def _write(self, name: str, data: bytes, content_type: str) -> None:
        if name == MANIFEST:
            raise ValueError("manifest.json is written by RunArtifacts itself")
        self.store.put(self.prefix + name, data, content_type)
        self._kept[name] = data
        self._objects[name] = {
            "key": self.prefix + name,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": content_type,
        }

    def _write_manifest(self, complete: bool) -> dict[str, Any]:
        manifest = self.manifest(complete)
        data = json.dumps(manifest, indent=2).encode()
        self.store.put(self.prefix + MANIFEST, data, "application/json")
        return manifest


def verify(store: ArtifactStore, prefix: str) -> list[str]:
    """An auditor's check: every object the manifest lists exists with its size and SHA-256.
    Returns the problems found (empty: nothing changed or lost)."""
    manifest = json.loads(store.get(prefix + MANIFEST))
    problems = []
    for entry in manifest["objects"]:
        try:
            data = store.get(prefix + entry["name"])
        except KeyError:
            problems.append(f"{entry['name']}: missing")
            continue
        if len(data) != entry["size"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
            problems.append(f"{entry['name']}: size or SHA-256 differs from the manifest")
    return problems
