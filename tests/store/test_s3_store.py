"""S3Store against a real Ceph radosgw (started by tests/store/conftest.py)."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from core.errors import StoreError
from core.settings import Settings
from tests.ceph import CephS3
from workers.artifacts.attempt import RunArtifacts, artifact_prefix, verify
from workers.artifacts.build import build_store
from workers.artifacts.s3 import S3Store
from workers.artifacts.spool import SpoolingStore

pytestmark = pytest.mark.s3


def test_objects_round_trip_with_their_content_type(ceph: CephS3) -> None:
    store = ceph.store()
    store.put("runs/a/attempt-1/screenshots/0001.png", b"\x89PNG one", "image/png")
    store.put("runs/a/attempt-1/screenshots/0001.png", b"\x89PNG two", "image/png")

    assert store.get("runs/a/attempt-1/screenshots/0001.png") == b"\x89PNG two"
    head = store.client.head_object(Bucket=store.bucket, Key="runs/a/attempt-1/screenshots/0001.png")
    assert head["ContentType"] == "image/png"


def test_list_returns_every_key_under_a_prefix_across_pages(ceph: CephS3) -> None:
    store = ceph.store()
    keys = [f"runs/r/attempt-1/screenshots/{i:04d}.png" for i in range(1, 8)]
    for key in keys:
        store.put(key, key.encode())
    store.put("runs/rr/attempt-1/result.json", b"{}")
    store.page_size = 3  # 8 keys: three pages
    assert store.list("runs/r/") == keys
    assert store.list("runs/r") == [*keys, "runs/rr/attempt-1/result.json"]


def test_a_missing_object_is_a_key_error_and_an_unknown_bucket_a_store_error(ceph: CephS3) -> None:
    store = ceph.store()
    with pytest.raises(KeyError):
        store.get("runs/nope/result.json")
    missing_bucket = S3Store(
        "no-such-bucket-here",
        endpoint_url=ceph.endpoint_url,
        access_key_id=ceph.access_key,
        secret_access_key=ceph.secret_key,
    )
    with pytest.raises(StoreError, match="NoSuchBucket"):
        missing_bucket.put("x", b"x")


def test_wrong_credentials_are_a_store_error(ceph: CephS3) -> None:
    bucket = ceph.store().bucket
    store = S3Store(bucket, endpoint_url=ceph.endpoint_url, access_key_id="test", secret_access_key="wrong")
    with pytest.raises(StoreError):
        store.put("x", b"x")


def test_the_url_names_the_endpoint_bucket_and_key(ceph: CephS3) -> None:
    store = ceph.store("urls-bucket")
    assert store.url("runs/a/attempt-1/") == f"{ceph.endpoint_url}/urls-bucket/runs/a/attempt-1/"
    assert S3Store("b", region="eu-west-1").url("runs/x/") == "s3://b/runs/x/"


def test_a_run_written_to_s3_passes_an_audit(ceph: CephS3) -> None:
    store = ceph.store()
    run = RunArtifacts(store, artifact_prefix("run-7", 1))
    shot = bytes(range(256)) * 64
    for step in (1, 2, 3):
        run.put(f"screenshots/{step:04d}.png", shot + bytes([step]), "image/png")
        run.append_line("transcript.jsonl", json.dumps({"step": step}))
    manifest = run.finalize({"stop_reason": "end_turn"})

    prefix = "runs/run-7/attempt-1/"
    assert verify(store, prefix) == []
    assert len(manifest["objects"]) == 5
    assert sorted(store.list(prefix)) == sorted(
        [prefix + o["name"] for o in manifest["objects"]] + [prefix + "manifest.json"]
    )
    body = store.get(prefix + "screenshots/0002.png")
    entry = next(o for o in manifest["objects"] if o["name"] == "screenshots/0002.png")
    assert entry["sha256"] == hashlib.sha256(body).hexdigest()


def test_build_store_puts_s3_behind_the_spool(ceph: CephS3, tmp_path: object) -> None:
    bucket = ceph.store().bucket
    settings = Settings(
        store="s3",
        s3_bucket=bucket,
        s3_endpoint_url=ceph.endpoint_url,
        s3_access_key_id=ceph.access_key,
        s3_secret_access_key=ceph.secret_key,
        spool_dir=f"{tmp_path}/spool",
    )
    store = build_store(settings)
    try:
        assert isinstance(store, SpoolingStore) and isinstance(store.inner, S3Store)
        assert store.write_behind  # a run never waits on S3: the flusher uploads in the background
        store.put("runs/b/attempt-1/result.json", b"{}", "application/json")
        deadline = time.monotonic() + 60
        while store.pending() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert store.inner.get("runs/b/attempt-1/result.json") == b"{}"
    finally:
        store.close()
