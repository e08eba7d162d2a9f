"""Artifact stores: one interface, a local directory (the default) and S3 through boto3.

Keys are '/'-separated relative paths (``runs/<run id>/attempt-1/transcript.jsonl``). An
unreachable store raises ``StoreError``; a missing object raises ``KeyError``. ``build_store``
wraps S3 in a ``SpoolingStore`` (workers/spool.py) so an outage spools to local disk instead of
losing anything.
"""

from __future__ import annotations

import os
import tempfile
import threading
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from scheduler.settings import Settings
from workers.errors import StoreError

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


class S3Store(ArtifactStore):
    """S3 or an S3-compatible server (MinIO, Ceph RGW, R2, GCS interoperability).

    For a custom ``endpoint_url``: path-style addressing, and checksums only "when_required" —
    newer botocore adds CRC checksums by default that several S3-compatible servers reject."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 30.0,
        max_attempts: int = 3,
    ) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.page_size = 1000
        self.endpoint_url = endpoint_url.rstrip("/") if endpoint_url else None
        options: dict[str, Any] = {
            "connect_timeout": connect_timeout_s,
            "read_timeout": read_timeout_s,
            "retries": {"max_attempts": max_attempts, "mode": "standard"},
        }
        if self.endpoint_url:
            options["s3"] = {"addressing_style": "path"}
            options["request_checksum_calculation"] = "when_required"
            options["response_checksum_validation"] = "when_required"
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        self.client = session.client("s3", endpoint_url=self.endpoint_url, config=Config(**options))

    def _call(self, operation: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(**kwargs)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("NoSuchKey", "404", "NotFound") and "Key" in kwargs:
                raise KeyError(kwargs["Key"]) from exc
            raise StoreError(f"S3 {operation} {kwargs.get('Key', '')}: {code or exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(f"S3 {operation} {kwargs.get('Key', '')}: {exc}") from exc

    def put(self, key: str, data: bytes, content_type: str = OCTET) -> None:
        check_key(key)
        self._call("put_object", Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        reply = self._call("get_object", Bucket=self.bucket, Key=check_key(key))
        try:
            body: bytes = reply["Body"].read()
        except (BotoCoreError, HTTPError, OSError) as exc:  # the connection broke mid-body
            raise StoreError(f"S3 get_object {key}: {exc}") from exc
        return body

    def list(self, prefix: str = "") -> list[str]:
        keys: list[str] = []
        token: dict[str, Any] = {}
        while True:
            page = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": self.page_size, **token}
            reply = self._call("list_objects_v2", **page)
            keys += [item["Key"] for item in reply.get("Contents", [])]
            if not reply.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": reply["NextContinuationToken"]}

    def url(self, key: str) -> str:
        if self.endpoint_url:
            return f"{self.endpoint_url}/{self.bucket}/{key}"
        return f"s3://{self.bucket}/{key}"

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist (needs CreateBucket; workers usually lack it)."""
        from botocore.exceptions import ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call("create_bucket", Bucket=self.bucket)

    def close(self) -> None:
        self.client.close()


def build_store(settings: Settings) -> ArtifactStore:
    """The store the settings name: a ``LocalStore``, or S3 behind a ``SpoolingStore`` with its
    background flusher running. Build it once per process (see ``process_store``)."""
    if settings.store == "local":
        return LocalStore(settings.artifacts_dir)
    from workers.spool import SpoolingStore

    secret = settings.s3_secret_access_key
    s3 = S3Store(
        settings.s3_bucket,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None,
        secret_access_key=secret.get_secret_value() if secret else None,
        connect_timeout_s=settings.s3_connect_timeout_s,
        read_timeout_s=settings.s3_read_timeout_s,
        max_attempts=settings.s3_max_attempts,
    )
    store = SpoolingStore(s3, settings.spool_dir, retry_after_s=settings.spool_flush_interval_s)
    store.start_flusher(settings.spool_flush_interval_s)
    return store


_PROCESS_STORE: dict[int, ArtifactStore] = {}
_PROCESS_LOCK = threading.Lock()


def process_store(settings: Settings) -> ArtifactStore:
    """``build_store`` once per process: a forked worker child builds its own (boto3 clients and
    flusher threads do not survive a fork)."""
    pid = os.getpid()
    with _PROCESS_LOCK:
        if pid not in _PROCESS_STORE:
            _PROCESS_STORE.clear()
            _PROCESS_STORE[pid] = build_store(settings)
        return _PROCESS_STORE[pid]
