"""SpoolingStore: an unreachable store spools to local disk and every object arrives later, newest
version last, whatever the order and however many flushers run.

The rules are specified against a local store that can be switched off (our own interface, not a
mock of S3); the outage itself is then played for real by pausing the Ceph container.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from pathlib import Path

import pytest

from core.errors import StoreError
from tests.ceph import CephS3
from workers.artifacts.attempt import RunArtifacts, verify
from workers.artifacts.spool import SpoolingStore
from workers.artifacts.store import OCTET, LocalStore


class SwitchableStore(LocalStore):
    """A local store that refuses every call while ``down`` is set, as an unreachable server does."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.down = False
        self.puts: list[str] = []

    def _check(self) -> None:
        if self.down:
            raise StoreError("connection refused")

    def put(self, key: str, data: bytes, content_type: str = OCTET) -> None:
        self._check()
        self.puts.append(key)
        super().put(key, data, content_type)

    def get(self, key: str) -> bytes:
        self._check()
        return super().get(key)

    def list(self, prefix: str = "") -> list[str]:
        self._check()
        return super().list(prefix)


@pytest.fixture
def inner(tmp_path: Path) -> SwitchableStore:
    return SwitchableStore(tmp_path / "remote")


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def spooling(inner: SwitchableStore, spool_dir: Path) -> SpoolingStore:
    return SpoolingStore(inner, spool_dir, retry_after_s=3600)


def test_writes_go_straight_through_while_the_store_is_up(inner: SwitchableStore, spool_dir: Path) -> None:
    store = spooling(inner, spool_dir)
    store.put("runs/a/x.txt", b"x")
    assert inner.get("runs/a/x.txt") == b"x" and store.pending() == []


def test_an_outage_spools_and_a_flush_delivers_everything(inner: SwitchableStore, spool_dir: Path) -> None:
    store = spooling(inner, spool_dir)
    inner.down = True
    for i in range(5):
        store.put(f"runs/a/{i}.bin", bytes([i]) * 100)
    assert store.pending() == [f"runs/a/{i}.bin" for i in range(5)]
    assert store.get("runs/a/3.bin") == bytes([3]) * 100  # readable while spooled
    assert store.list("runs/a/") == store.pending()

    assert store.flush() == 0  # still down: nothing lost, nothing uploaded
    inner.down = False
    assert store.flush() == 5
    assert [inner.get(f"runs/a/{i}.bin") for i in range(5)] == [bytes([i]) * 100 for i in range(5)]
    assert store.pending() == [] and not store.is_down()


def test_the_newest_version_of_a_key_wins(inner: SwitchableStore, spool_dir: Path) -> None:
    store = spooling(inner, spool_dir)
    store.put("runs/a/t.jsonl", b"1\n")
    inner.down = True
    store.put("runs/a/t.jsonl", b"1\n2\n")
    inner.down = False
    store._down_until = 0.0  # the store is back before the flusher noticed
    store.put("runs/a/t.jsonl", b"1\n2\n3\n")  # must not overtake the spooled version
    assert inner.get("runs/a/t.jsonl") == b"1\n"

    store.flush()
    assert inner.get("runs/a/t.jsonl") == b"1\n2\n3\n"


def test_a_failed_upload_keeps_the_object_for_the_next_flush(inner: SwitchableStore, spool_dir: Path) -> None:
    store = spooling(inner, spool_dir)
    inner.down = True
    store.put("runs/a/x", b"x")
    store.flush()
    assert store.pending() == ["runs/a/x"]
    inner.down = False
    store.flush()
    assert inner.get("runs/a/x") == b"x"


def test_spools_shared_by_many_processes_deliver_each_object_once_and_newest(
    inner: SwitchableStore, spool_dir: Path
) -> None:
    writer = spooling(inner, spool_dir)
    inner.down = True
    for version in range(3):
        for i in range(20):
            writer.put(f"runs/a/{i}.txt", f"{i}:{version}".encode())
    inner.down = False
    flushers = [spooling(inner, spool_dir) for _ in range(4)]
    threads = [threading.Thread(target=f.flush) for f in flushers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert [inner.get(f"runs/a/{i}.txt") for i in range(20)] == [f"{i}:2".encode() for i in range(20)]
    assert sorted(inner.puts) == sorted(f"runs/a/{i}.txt" for i in range(20))  # each exactly once
    assert writer.pending() == []


def test_a_spool_shared_with_another_target_leaves_its_objects_alone(tmp_path: Path, spool_dir: Path) -> None:
    mine, theirs = SwitchableStore(tmp_path / "mine"), SwitchableStore(tmp_path / "theirs")
    theirs.down = True
    spooling(theirs, spool_dir).put("runs/t/x", b"theirs")
    assert spooling(mine, spool_dir).flush() == 0
    assert spooling(mine, spool_dir).pending() == []
    theirs.down = False
    assert spooling(theirs, spool_dir).flush() == 1 and theirs.get("runs/t/x") == b"theirs"


def test_a_corrupted_spool_file_is_quarantined_not_uploaded(inner: SwitchableStore, spool_dir: Path) -> None:
    store = spooling(inner, spool_dir)
    inner.down = True
    store.put("runs/a/x", b"good bytes")
    (entry,) = spool_dir.glob("*.obj")
    entry.write_bytes(entry.read_bytes().replace(b"good", b"evil"))
    inner.down = False
    assert store.flush() == 0
    assert inner.puts == [] and len(list((spool_dir / "corrupt").iterdir())) == 1


def test_the_background_flusher_uploads_once_the_store_returns(
    inner: SwitchableStore, spool_dir: Path
) -> None:
    store = SpoolingStore(inner, spool_dir, retry_after_s=0.05)
    inner.down = True
    store.put("runs/a/x", b"x")
    store.start_flusher(0.05)
    try:
        inner.down = False
        deadline = time.monotonic() + 30
        while store.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.pending() == [] and inner.get("runs/a/x") == b"x"
    finally:
        store.stop_flusher()


@pytest.mark.s3
def test_artifacts_written_while_ceph_is_down_all_arrive_after_it_returns(
    ceph: CephS3, spool_dir: Path
) -> None:
    s3 = ceph.store(connect_timeout_s=1, read_timeout_s=1, max_attempts=1)
    store = SpoolingStore(s3, spool_dir, retry_after_s=3600)
    run = RunArtifacts(store, "runs/outage/attempt-1/")
    expected: dict[str, bytes] = {}

    def step(n: int) -> None:
        shot = hashlib.sha256(str(n).encode()).digest() * 512
        run.put(f"screenshots/{n:04d}.png", shot, "image/png")
        run.append_line("transcript.jsonl", json.dumps({"step": n}))
        expected[f"screenshots/{n:04d}.png"] = shot

    step(1)
    assert store.pending() == []
    ceph.pause()
    try:
        for n in (2, 3, 4):
            step(n)  # no exception: the run goes on
        assert "runs/outage/attempt-1/transcript.jsonl" in store.pending()
        assert store.flush() == 0
    finally:
        ceph.unpause()
    run.finalize({"stop_reason": "end_turn"})
    store.flush()

    assert store.pending() == []
    expected["transcript.jsonl"] = b"".join(json.dumps({"step": n}).encode() + b"\n" for n in (1, 2, 3, 4))
    for name, data in expected.items():
        stored = s3.get("runs/outage/attempt-1/" + name)
        assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(data).hexdigest(), name
    assert verify(s3, "runs/outage/attempt-1/") == []
    assert json.loads(s3.get("runs/outage/attempt-1/manifest.json"))["complete"] is True


def test_write_behind_returns_at_once_and_uploads_in_write_order_manifest_last(
    inner: SwitchableStore, spool_dir: Path
) -> None:
    store = SpoolingStore(inner, spool_dir, write_behind=True)
    run = RunArtifacts(store, "runs/wb/attempt-1/")
    inner.down = True  # nothing reaches the store yet, and no write waits for it
    for n in range(3):
        run.put(f"screenshots/{n}.png", bytes([n]) * 100, "image/png")
        run.append_line("transcript.jsonl", json.dumps({"step": n}))
    run.finalize({"state": "succeeded"})
    assert inner.puts == []
    inner.down = False

    assert store.flush() > 0

    order = [key.removeprefix("runs/wb/attempt-1/") for key in inner.puts]
    assert order == ["screenshots/0.png", "screenshots/1.png", "screenshots/2.png", "transcript.jsonl",
                     "result.json", "manifest.json"]
    assert verify(inner, "runs/wb/attempt-1/") == []


@pytest.mark.s3
def test_a_write_behind_store_never_waits_on_an_s3_that_accepts_but_does_not_answer(
    ceph: CephS3, spool_dir: Path
) -> None:
    s3 = ceph.store(connect_timeout_s=60, read_timeout_s=60, max_attempts=1)
    store = SpoolingStore(s3, spool_dir, write_behind=True)
    store.start_flusher(1.0)
    run = RunArtifacts(store, "runs/hang/attempt-1/")
    ceph.pause()  # TCP connections are accepted by the kernel; nothing answers
    try:
        writer = threading.Thread(target=lambda: [run.put(f"s/{n}.png", b"x" * 5000, "image/png")
                                                  for n in range(20)] and run.finalize({"ok": True}))
        writer.start()
        writer.join(timeout=20)  # a synchronous write would hang for its 60 s read timeout
        assert not writer.is_alive()
        assert len(store.pending()) == 22
    finally:
        ceph.unpause()
    try:
        deadline = time.monotonic() + 180
        while store.pending() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert store.pending() == []
        assert verify(s3, "runs/hang/attempt-1/") == []
    finally:
        store.stop_flusher()
