"""S3 (or an S3-compatible server) as an artifact store, through boto3."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import StoreError
from workers.artifacts.store import OCTET, ArtifactStore, check_key


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
        multipart_threshold_mb: int = 16,
    ) -> None:
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        self.bucket = bucket
        part = multipart_threshold_mb * 1024 * 1024
        self.transfer = TransferConfig(multipart_threshold=part, multipart_chunksize=part, use_threads=False)
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

    def put_file(self, key: str, path: Path, content_type: str = OCTET) -> None:
        """boto3's managed transfer: a file above the threshold goes up by multipart, part by part
        from disk (never whole in memory)."""
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        check_key(key)
        try:
            self.client.upload_file(str(path), self.bucket, key, ExtraArgs={"ContentType": content_type},
                                    Config=self.transfer)
        except (S3UploadFailedError, ClientError, BotoCoreError, OSError) as exc:
            raise StoreError(f"S3 upload {key}: {exc}") from exc

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
