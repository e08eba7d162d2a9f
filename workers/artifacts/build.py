"""The store the settings name, built once per worker process."""

from __future__ import annotations

from core.settings import Settings
from workers.artifacts.s3 import S3Store
from workers.artifacts.spool import SpoolingStore
from workers.artifacts.store import ArtifactStore, LocalStore


def build_store(settings: Settings) -> ArtifactStore:
    """The store the settings name: a ``LocalStore``, or S3 behind a write-behind
    ``SpoolingStore`` with its background flusher running. Build it once per process."""
    if settings.store == "local":
        return LocalStore(settings.artifacts_dir)
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
        multipart_threshold_mb=settings.s3_multipart_threshold_mb,
    )
    store = SpoolingStore(s3, settings.spool_dir, retry_after_s=settings.spool_flush_interval_s,
                          write_behind=True)  # a run never waits on S3 (see spool.py)
    store.start_flusher(settings.spool_flush_interval_s)
    return store
