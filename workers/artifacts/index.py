"""A batch's ``index.html``: one row per run (state, verdict, cost, duration, stop reason) linking
to its ``report.html``. Written by each worker when its run ends, under a per-batch lock in Redis,
so the last render sees every run; self-contained like the reports."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from redis import Redis

from core import keys
from core.records import Records, RunRecord
from workers.artifacts.report import REPORT, _page, _usd
from workers.artifacts.store import ArtifactStore

INDEX = "index.html"
LOCK_TIMEOUT_S = 60


def index_key(batch_id: str) -> str:
    return f"batches/{batch_id}/{INDEX}"


def render_index(batch_id: str, records: Sequence[RunRecord]) -> bytes:
    head = "".join(f"<th>{c}</th>" for c in ("run", "task", "state", "verdict", "cost", "s", "stop"))
    head = f"<tr>{head}</tr>"
    rows = "".join(_row(r) for r in records)
    body = f"<h1>Batch {escape(batch_id)}</h1><table id=runs>{head}{rows}</table>"
    return _page(f"nightshift batch {batch_id}", body)


def _row(record: RunRecord) -> str:
    link = escape(record.run_id)
    if record.artifact_prefix and record.terminal:
        link = f"<a href=\"../../{escape(record.artifact_prefix)}{REPORT}\">{link}</a>"
    ended = record.finished_at and record.started_at
    took = f"{(record.finished_at or 0.0) - (record.started_at or 0.0):.1f}" if ended else "-"
    cells = [escape(record.name), escape(str(record.state)), escape(str(record.verdict or "-")),
             _usd(record.cost_usd), took, escape(record.stop_reason or "-")]
    return f"<tr class=run><td>{link}</td>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def write_index(redis: Redis, store: ArtifactStore, batch_id: str) -> str:
    """Render and store the batch's index; returns its URL."""
    wait = LOCK_TIMEOUT_S
    lock = redis.lock(keys.batch_render_lock(batch_id), timeout=wait, blocking_timeout=wait)
    with lock:
        store.put(index_key(batch_id), render_index(batch_id, Records(redis).batch(batch_id)), "text/html")
    return store.url(index_key(batch_id))
