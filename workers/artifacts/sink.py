"""Where a run's artifacts go. ``workers.artifacts.attempt`` implements it over a local directory and S3;
the transcript writer only ever sees this protocol."""

from __future__ import annotations

from typing import Protocol


class ArtifactSink(Protocol):
    """Write-only access to one run's artifact prefix. Names are relative, '/'-separated."""

    def put(self, name: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``name`` (replacing any earlier object of that name)."""
        ...

    def append_line(self, name: str, line: str) -> None:
        """Append one line (no trailing newline in ``line``) to the text object ``name``."""
        ...
