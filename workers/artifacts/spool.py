"""A store wrapper that never drops an artifact: when the underlying store fails, objects are
written to a local spool directory and uploaded later, by ``flush()`` or a background thread.

Spool layout (``spool_dir``, shared safely by every worker process on the host):

- ``<h>.obj``: the newest version of one key waiting for upload; one JSON header line (key,
  content type, size, SHA-256, target) then the bytes. ``h`` hashes the target URL of the key, so
  stores with different buckets or endpoints can share a directory without mixing objects.
- ``<h>.<token>.flight``: a version a flusher has claimed and is uploading.
- ``.lock``: an ``flock`` held only for renames and unlinks, never during network calls.

Rules that keep every key's final object the newest one, with any number of flushers, and the
store's objects arriving in the order they were written (so a run's ``manifest.json``, written
last, never lands before the objects it lists): while anything is spooled, later writes are
spooled too (never sent past it), and a flush uploads in the order things were spooled; a
flusher claims a key only when no other flight of it exists; a finished flight is deleted, a
failed one goes back unless a newer version arrived meanwhile. Uploads are plain
overwrites, so repeating one is harmless. Assumes one writer per key (one run writes its prefix).

``write_behind=True`` (what workers use for S3): every write goes to the spool and wakes the
background flusher, so a run's step never waits on object storage, answering or not; the flusher
uploads in write order (the manifest, rewritten after each object, is always last). Write-behind
files are not fsynced: they survive the worker process, and a host that dies takes its runs'
attempts with it anyway (their next attempts write under new prefixes).
"""

from __future__ import annotations

import builtins
import fcntl
import hashlib
import json
import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import structlog

from core.errors import StoreError
from workers.artifacts.store import OCTET, ArtifactStore, check_key

log = structlog.get_logger("nightshift.spool")


class SpoolingStore(ArtifactStore):
    def __init__(
        self,
        inner: ArtifactStore,
        spool_dir: str | Path,
        *,
        retry_after_s: float = 15.0,
        stale_flight_s: float = 900.0,
        write_behind: bool = False,
    ) -> None:
        self.inner = inner
        self.dir = Path(spool_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.retry_after_s = retry_after_s
        self.stale_flight_s = stale_flight_s
        self._down_until = 0.0
        self.write_behind = write_behind
        self._flush_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the store interface ---------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str = OCTET) -> None:
        check_key(key)
        h = self._hash(key)
        if self._straight_through():
            try:
                self.inner.put(key, data, content_type)
                return
            except StoreError as exc:
                self._mark_down(exc)
        self._spool(h, key, data, content_type)

    def put_file(self, key: str, path: Path, content_type: str = OCTET) -> None:
        """Streamed to the store while it answers; else copied into the spool (the later upload of
        a spooled object reads it whole)."""
        check_key(key)
        if self._straight_through():
            try:
                self.inner.put_file(key, path, content_type)
                return
            except StoreError as exc:
                self._mark_down(exc)
        self._spool_file(self._hash(key), key, path, content_type)

    def get(self, key: str) -> bytes:
        h = self._hash(check_key(key))
        for path in [self._obj(h), *self._flights(h)]:
            with suppress(FileNotFoundError):
                return _read(path)[1]
        return self.inner.get(key)

    def list(self, prefix: str = "") -> list[str]:
        spooled = {k for k in self.pending() if k.startswith(prefix)}
        try:
            stored = set(self.inner.list(prefix))
        except StoreError as exc:
            self._mark_down(exc)
            stored = set()
        return sorted(stored | spooled)

    def url(self, key: str) -> str:
        return self.inner.url(key)

    def close(self) -> None:
        self.stop_flusher()
        self.flush()
        self.inner.close()

    # --- state -------------------------------------------------------------------------------------

    def _straight_through(self) -> bool:
        """Whether a write goes to the store itself (write-through, store up, nothing waiting)."""
        return not self.write_behind and not self.is_down() and not self._anything_spooled()

    def is_down(self) -> bool:
        """True for ``retry_after_s`` after a failure: writes go straight to the spool."""
        return time.monotonic() < self._down_until

    def pending(self) -> builtins.list[str]:
        """Keys (of this store's target) waiting in the spool."""
        keys = set()
        for path in [*self.dir.glob("*.obj"), *self.dir.glob("*.flight")]:
            header = _header(path)
            if header and header["target"] == self.inner.url(header["key"]):
                keys.add(str(header["key"]))
        return sorted(keys)

    def _mark_down(self, exc: Exception) -> None:
        if not self.is_down():
            log.warning("store.unreachable_spooling", error=str(exc), spool=str(self.dir))
        self._down_until = time.monotonic() + self.retry_after_s

    # --- spool files -------------------------------------------------------------------------------

    def _hash(self, key: str) -> str:
        return hashlib.sha256(self.inner.url(key).encode()).hexdigest()[:40]

    def _obj(self, h: str) -> Path:
        return self.dir / f"{h}.obj"

    def _flights(self, h: str) -> builtins.list[Path]:
        return sorted(self.dir.glob(f"{h}.*.flight"))

    def _anything_spooled(self) -> bool:
        """Whether this store's target has anything waiting (the directory is empty while the
        store answers, so this costs one directory listing)."""
        return bool(self.pending())

    def _in_spool_order(self) -> builtins.list[Path]:
        """Waiting objects, oldest write first (a key written again moves to the back)."""
        found = [(header.get("spooled_at", 0.0), path) for path in self.dir.glob("*.obj")
                 if (header := _header(path)) is not None]
        return [path for _, path in sorted(found)]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.dir / ".lock", "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @contextmanager
    def _sole_flusher(self) -> Iterator[bool]:
        """Whether this process is the one flusher of the directory now (a non-blocking ``flock``
        held for the whole pass: one upload order per spool, across processes)."""
        with open(self.dir / ".flusher", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _spool(self, h: str, key: str, data: bytes, content_type: str) -> None:
        header = self._header(key, content_type, len(data), hashlib.sha256(data).hexdigest())
        self._write_spooled(h, header, lambda handle: handle.write(data))

    def _spool_file(self, h: str, key: str, path: Path, content_type: str) -> None:
        with open(path, "rb") as source:
            digest = hashlib.file_digest(source, "sha256").hexdigest()
        header = self._header(key, content_type, path.stat().st_size, digest)

        def copy(handle: Any) -> None:
            with open(path, "rb") as source:
                shutil.copyfileobj(source, handle)

        self._write_spooled(h, header, copy)

    def _header(self, key: str, content_type: str, size: int, sha256: str) -> dict[str, Any]:
        return {"key": key, "content_type": content_type, "size": size, "sha256": sha256,
                "target": self.inner.url(key), "spooled_at": time.time()}

    def _write_spooled(self, h: str, header: dict[str, Any], write: Any) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(json.dumps(header).encode() + b"\n")
            write(handle)
            handle.flush()
            if not self.write_behind:
                os.fsync(handle.fileno())
        with self._locked():
            os.replace(tmp, self._obj(h))
        self._wake.set()
        log.debug("store.spooled", key=header["key"], size=header["size"])

    # --- upload --------------------------------------------------------------------------------------

    def flush(self) -> int:
        """Upload what is spooled for this store's target; stops at the first failure. Returns how
        many objects were uploaded. Never raises for an unreachable store."""
        with self._flush_lock, self._sole_flusher() as sole:
            if not sole:  # another process is uploading this spool, in order; never race past it
                return 0
            self._reclaim_stale()
            uploaded = 0
            for obj in self._in_spool_order():
                outcome = self._upload_one(obj)
                if outcome is False:
                    return uploaded
                uploaded += int(bool(outcome))
            if not self.pending():
                self._down_until = 0.0
            if uploaded:
                log.info("store.spool_flushed", uploaded=uploaded)
            return uploaded

    def _upload_one(self, obj: Path) -> bool | None:
        """True: uploaded; None: skipped (someone else's, or already gone); False: store failed."""
        header = _header(obj)
        if header is None or header["target"] != self.inner.url(header["key"]):
            return None
        h = obj.name.removesuffix(".obj")
        flight = self._claim(h)
        if flight is None:
            return None
        try:
            header, data = _read(flight)
            self.inner.put(header["key"], data, header["content_type"])
        except StoreError as exc:
            self._release(flight, h)
            self._mark_down(exc)
            return False
        except (OSError, ValueError) as exc:
            self._quarantine(flight, exc)
            return None
        with self._locked():
            flight.unlink(missing_ok=True)
        return True

    def _claim(self, h: str) -> Path | None:
        flight = self.dir / f"{h}.{secrets.token_hex(6)}.flight"
        with self._locked():
            if self._flights(h) or not self._obj(h).exists():
                return None
            os.replace(self._obj(h), flight)
            os.utime(flight)  # the claim time, for reclaiming flights of a dead flusher
        return flight

    def _release(self, flight: Path, h: str) -> None:
        with self._locked():
            if self._obj(h).exists():
                flight.unlink(missing_ok=True)  # a newer version supersedes this one
            else:
                os.replace(flight, self._obj(h))

    def _reclaim_stale(self) -> None:
        cutoff = time.time() - self.stale_flight_s
        for path in self.dir.glob("*.flight"):
            with suppress(FileNotFoundError):
                if path.stat().st_mtime < cutoff:
                    self._release(path, path.name.split(".")[0])
        for tmp in self.dir.glob(".tmp-*"):
            with suppress(FileNotFoundError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()

    def _quarantine(self, path: Path, exc: Exception) -> None:
        bad = self.dir / "corrupt"
        bad.mkdir(exist_ok=True)
        with suppress(FileNotFoundError):
            os.replace(path, bad / path.name)
        log.error("store.spool_corrupt", file=str(bad / path.name), error=str(exc))

    # --- background flusher ------------------------------------------------------------------------

    def start_flusher(self, interval_s: float) -> None:
        """Flush every ``interval_s`` while anything is spooled (a daemon thread, idempotent)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._flush_forever, args=(interval_s,), name="nightshift-spool", daemon=True
        )
        self._thread.start()

    def stop_flusher(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _flush_forever(self, interval_s: float) -> None:
        """Flush when woken by a write (write-behind) or every ``interval_s``; after a failure the
        store is left alone until ``retry_after_s`` passed."""
        while not self._stop.is_set():
            self._wake.wait(interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            if not self.is_down() and self.pending():
                try:
                    self.flush()
                except Exception as exc:  # the flusher must survive anything; the next tick retries
                    log.error("store.flush_failed", error=str(exc))


def _header(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as handle:
            header: dict[str, Any] = json.loads(handle.readline())
            return header
    except (FileNotFoundError, ValueError):
        return None


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    """Header and bytes of a spool file; ValueError when the bytes do not match the header."""
    raw = path.read_bytes()
    line, _, data = raw.partition(b"\n")
    header: dict[str, Any] = json.loads(line)
    if len(data) != header["size"] or hashlib.sha256(data).hexdigest() != header["sha256"]:
        raise ValueError(f"{path.name}: size or SHA-256 does not match its header")
    return header, data
