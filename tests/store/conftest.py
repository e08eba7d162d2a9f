"""The store tests use the real Ceph S3 server fixture from tests/ceph.py (exposed by the root conftest)."""
