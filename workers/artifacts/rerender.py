"""``nightshift report RUN``: render a finished attempt's ``report.html`` again from its stored
objects (a newer renderer, a page lost or never written) and keep the manifest true: its entry for
the page gets the new size and SHA-256, so the auditor's ``verify`` stays clean."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from core.events import EventType
from core.records import Records
from workers.artifacts.attempt import MANIFEST
from workers.artifacts.report import REPORT, render
from workers.artifacts.store import ArtifactStore

HTML = "text/html; charset=utf-8"


def rerender(store: ArtifactStore, prefix: str, run_id: str) -> str:
    """Write the page again; returns its URL."""
    html = render(lambda name: store.get(prefix + name), run_id)
    store.put(prefix + REPORT, html, HTML)
    manifest: dict[str, Any] = json.loads(store.get(prefix + MANIFEST))
    others = [entry for entry in manifest["objects"] if entry["name"] != REPORT]
    manifest["objects"] = sorted([*others, _entry(prefix, html)], key=lambda entry: str(entry["name"]))
    manifest["report_rendered_at"] = time.time()
    store.put(prefix + MANIFEST, json.dumps(manifest, indent=2).encode(), "application/json")
    return store.url(prefix + REPORT)


def rerender_run(records: Records, store: ArtifactStore, run_id: str) -> None:
    """The ``nightshift.report`` task: re-render the run's latest attempt and say so on its event
    stream (the URL, or why not), where ``nightshift report`` waits for it."""
    prefix = records.get(run_id).artifact_prefix
    try:
        if prefix is None:
            raise LookupError("the run never started: it has no artifacts")
        url = rerender(store, prefix, run_id)
    except (LookupError, ValueError) as exc:  # KeyError: an object the page needs is gone
        records.event(run_id, EventType.REPORT_RENDERED, error=f"{type(exc).__name__}: {exc}")
        return
    records.event(run_id, EventType.REPORT_RENDERED, url=url)


def _entry(prefix: str, html: bytes) -> dict[str, Any]:
    sha256 = hashlib.sha256(html).hexdigest()
    return {"name": REPORT, "key": prefix + REPORT, "size": len(html), "sha256": sha256, "content_type": HTML}
