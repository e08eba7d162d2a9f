"""Outputs leave the sandbox after the agent: the files matching the task's ``outputs`` are
streamed out (``get_file`` frames into a temp file, hashed on the way) and stored under the
attempt's prefix as ``outputs/<path in the sandbox>``, each in the manifest with size and SHA-256.
Caps on count and total bytes come from the settings; what is skipped is recorded with why.
"""

from __future__ import annotations

import hashlib
import mimetypes
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from core.errors import SandboxError, SandboxGoneError, StoreError
from core.settings import Settings
from workers.artifacts.attempt import RunArtifacts
from workers.sandbox.sandbox import Sandbox

OUTPUTS_DIR = "outputs/"
EXTRA_LISTED = 100  # matches past the count cap still listed as skipped (then one summary line)
log = structlog.get_logger("nightshift.outputs")


def output_name(path: str) -> str:
    """Where a sandbox file lands under the attempt's prefix: its absolute path kept."""
    return OUTPUTS_DIR + path.lstrip("/")


@dataclass
class Outputs:
    """What was collected (path, name, size, sha256) and what was skipped (path or pattern, why)."""

    files: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(int(f["size"]) for f in self.files)

    def skip(self, reason: str, **where: Any) -> None:
        self.skipped.append({**where, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {"files": self.files, "skipped": self.skipped, "total_bytes": self.total_bytes}


class Collector:
    """Collects one attempt's outputs from its sandbox before the sandbox is removed."""

    def __init__(
        self, sandbox: Sandbox, artifacts: RunArtifacts, settings: Settings, deadline: float
    ) -> None:
        self.sandbox = sandbox
        self.artifacts = artifacts
        self.max_files = settings.outputs_max_files
        self.max_bytes = int(settings.outputs_max_total_mb * 1024 * 1024)
        self.deadline = deadline
        self.found = Outputs()

    def collect(self, patterns: list[str]) -> Outputs:
        if not patterns:
            return self.found
        try:
            listing = self.sandbox.glob(patterns, limit=self.max_files + EXTRA_LISTED + 1)
        except SandboxError as exc:
            self.found.skip(f"the sandbox did not answer: {exc}", pattern=" ".join(patterns))
            return self.found
        for pattern in listing.get("unmatched") or []:
            self.found.skip("no file matches", pattern=pattern)
        self._copy_all(listing.get("files") or [])
        return self.found

    def _copy_all(self, files: list[dict[str, Any]]) -> None:
        with tempfile.TemporaryDirectory(prefix="nightshift-outputs-") as tmp:
            for index, entry in enumerate(files):
                if index >= self.max_files + EXTRA_LISTED:
                    self.found.skip("more files match; not listed", pattern="*")
                    return
                gone = self._one(str(entry["path"]), int(entry["size"]), Path(tmp) / "copy")
                if gone:
                    for rest in files[index + 1:]:
                        self.found.skip(gone, path=rest["path"], size=rest["size"])
                    return

    def _one(self, path: str, size: int, tmp: Path) -> str | None:
        """Copy one file, or record why not; returns a reason when no further file can be copied."""
        reason = self._refusal(size)
        if reason:
            self.found.skip(reason, path=path, size=size)
            return None
        try:
            self._copy(path, tmp)
        except SandboxGoneError as exc:
            self.found.skip(f"the sandbox is gone: {exc}", path=path, size=size)
            return "the sandbox is gone"
        except (SandboxError, StoreError, OSError) as exc:
            self.found.skip(f"copy failed: {exc}", path=path, size=size)
        return None

    def _refusal(self, size: int) -> str | None:
        if len(self.found.files) >= self.max_files:
            return f"over the count cap (outputs_max_files={self.max_files})"
        if self.found.total_bytes + size > self.max_bytes:
            return f"over the size cap (outputs_max_total_mb: {self.max_bytes} bytes in all)"
        if time.monotonic() >= self.deadline:
            return "no time left after the agent (after_agent_max_s)"
        return None

    def _copy(self, path: str, tmp: Path) -> None:
        digest, size = hashlib.sha256(), 0
        with open(tmp, "wb") as handle:
            def write(chunk: bytes) -> None:
                nonlocal size
                digest.update(chunk)
                handle.write(chunk)
                size += len(chunk)

            trailer = self.sandbox.get_file(path, write)
        sha256 = digest.hexdigest()
        if trailer.get("sha256") != sha256 or trailer.get("size") != size:
            raise SandboxError(f"{path}: the bytes received differ from what the executor sent")
        if self.found.total_bytes + size > self.max_bytes:  # it grew while being copied
            raise SandboxError(f"{path} grew past the size cap while being copied ({size} bytes)")
        name = output_name(path)
        self.artifacts.put_file(name, tmp, _content_type(path), size=size, sha256=sha256)
        self.found.files.append({"path": path, "name": name, "size": size, "sha256": sha256})
        log.info("output collected", path=path, size=size)


def _content_type(path: str) -> str:
    return mimetypes.guess_type(path)[0] or "application/octet-stream"
