"""``nightshift approvals | approve RUN | deny RUN`` and the same on the HTTP API: the human side
of runs waiting in ``needs_approval`` (core/approvals.py holds the records)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import time
from typing import Any

from celery import Celery
from redis import Redis

from core.approvals import ApprovalRequest, Approvals, decide_and_resume
from core.settings import Settings
from core.states import Decision

HEADER = ("RUN", "TASK", "WAITING", "DEADLINE", "WHAT", "WHY", "SCREENSHOT")


def decide(redis: Redis, celery: Celery, settings: Settings, run_id: str, decision: Decision, *,
           by: str | None = None, note: str | None = None) -> ApprovalRequest:
    """Approve or deny; the run goes back to its machine's queue. ApprovalError when it waits for none."""
    who = by or default_approver()
    return decide_and_resume(Approvals(redis), celery, settings, run_id, decision, by=who, note=note or None)


def default_approver() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "unknown"


def listing(redis: Redis, limit: int = 100) -> list[ApprovalRequest]:
    return Approvals(redis).pending(limit)


def as_json(requests: list[ApprovalRequest]) -> str:
    return json.dumps([r.as_dict() for r in requests], default=str)


def table(requests: list[ApprovalRequest], now: float | None = None) -> str:
    if not requests:
        return "no run is waiting for an approval"
    now = time.time() if now is None else now
    rows = [HEADER] + [_row(r, now) for r in requests]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADER) - 1)]
    return "\n".join("  ".join([*(c.ljust(w) for c, w in zip(row, widths, strict=False)), row[-1]])
                     for row in rows)


def _row(request: ApprovalRequest, now: float) -> tuple[str, ...]:
    return (request.run_id, request.name[:30], _span(now - request.requested_at), _when(request.deadline),
            _short(request.what), _short(request.why), request.screenshot_url or "-")


def _span(seconds: float) -> str:
    minutes = int(max(seconds, 0) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{int(seconds) % 60:02d}s"


def _when(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def decision_body(text: str) -> dict[str, Any]:
    """The HTTP body of a decision: optional JSON ``{"note": ..., "by": ...}``."""
    if not text.strip():
        return {}
    body = json.loads(text)
    if not isinstance(body, dict) or set(body) - {"note", "by"}:
        raise ValueError('a decision body is a JSON object with optional "note" and "by"')
    if any(v is not None and not isinstance(v, str) for v in body.values()):
        raise ValueError('"note" and "by" are strings')
    return body
