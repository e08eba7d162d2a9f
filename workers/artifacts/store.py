"""Artifact stores: one interface, a local directory (the default) and S3 through boto3.

Keys are '/'-separated relative paths (``runs/<run id>/attempt-1/transcript.jsonl``). An
unreachable store raises ``StoreError``; a missing object raises ``KeyError``. S3 lives in
``s3.py``; ``build.build_store`` wraps it in a ``SpoolingStore`` (``spool.py``) so an outage spools to
local disk instead of losing anything.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from pathlib import Path

from core.errors import StoreError

OCTET = "application/octet-stream"


def check_key(key: str) -> str:
    """Reject keys that could escape a prefix or collide: absolute, '..', empty segments."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid artifact key {key!r}")
    return key


class ArtifactStore(ABC):
    """Where artifacts live. Every method is safe to call from several threads."""

    @abstractmethod
    def put(self, key: str, data: bytes, content_type: str = OCTET) -> None:
        """Store ``data`` under ``key``, replacing any earlier object (readers see old or new)."""

    def put_file(self, key: str, path: Path, content_type: str = OCTET) -> None:
        """Store the file at ``path`` under ``key``. Stores override this to stream (the local store
        copies, S3 uploads large files by multipart); this fallback reads the file whole."""
        self.put(key, path.read_bytes(), content_type)

    @abstractmethod
    def get(self, key: str) -> bytes:
        """The object's bytes; ``KeyError`` when there is none."""

    @abstractmethod
    def list(self, prefix: str = "") -> list[str]:
        """Keys starting with ``prefix``, sorted."""

    @abstractmethod
    def url(self, key: str) -> str:
        """A location a human can open or paste into a tool (file://, s3:// or https://)."""

    def close(self) -> None:  # noqa: B027 - optional hook, most stores hold nothing to release
        """Release clients and background threads (a no-op for most stores)."""


class LocalStore(ArtifactStore):
    """A directory; each object a file, written to a temp file and renamed into place."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, content_type: str = OCTET) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise StoreError(f"cannot write {path}: {exc}") from exc

    def put_file(self, key: str, path: Path, content_type: str = OCTET) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
            os.close(fd)
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise StoreError(f"cannot write {target}: {exc}") from exc

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise KeyError(key) from exc
        except OSError as exc:
            raise StoreError(f"cannot read {key}: {exc}") from exc

    def list(self, prefix: str = "") -> list[str]:
        start = self.root / prefix.rpartition("/")[0] if "/" in prefix else self.root
        if not start.is_dir():
            return []
        found = (p for p in start.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
        return sorted(k for k in (p.relative_to(self.root).as_posix() for p in found) if k.startswith(prefix))

    def url(self, key: str) -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri() + "/"
