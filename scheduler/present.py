"""How runs and events read on a terminal (plain ASCII, one line per thing, cron-mail friendly)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from core.events import Event, EventType
from core.records import RunRecord
from core.states import RunState

_SKIP_IN_EVENT = {"type", "at", "attempt", "text"}


def when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def artifacts(record: RunRecord) -> str:
    return record.artifact_url or record.artifact_prefix or "(none yet)"


def event_line(name: str, event: Event) -> str:
    data = event.data
    head = f"{name} [{event.run_id}]"
    if event.type == EventType.STATE:
        moved = f"{data['from']} -> " if data.get("from") else ""
        line = f"{head} {moved}{data.get('state')} (attempt {data.get('attempt', 0)})"
        reason = data.get("stop_reason") or data.get("error")
        return f"{line}: {reason}" if reason else line
    if event.type == EventType.STEP:
        return f"{head} step {data.get('step', '?')}: {data.get('text') or _step_summary(data)}".rstrip()
    rest = {k: v for k, v in data.items() if k not in _SKIP_IN_EVENT}
    text = data.get("text") or (json.dumps(rest, sort_keys=True, default=str) if rest else "")
    return f"{head} {event.type}: {text}".rstrip()


def _step_summary(data: Mapping[str, Any]) -> str:
    """A step event without text (the workers' progress hook sends the step's numbers)."""
    parts = [str(data["stop_reason"])] if data.get("stop_reason") else []
    if data.get("tool_calls"):
        parts.append(f"{data['tool_calls']} tool call(s)")
    if data.get("input_tokens") or data.get("output_tokens"):
        parts.append(f"tokens in {data.get('input_tokens', 0)} out {data.get('output_tokens', 0)}")
    if data.get("cost_usd"):
        parts.append(f"${data['cost_usd']:.4f}")
    timings = [f"{k.removesuffix('_ms')} {data[k]:.0f} ms" for k in ("model_ms", "tools_ms") if data.get(k)]
    return ", ".join(parts + timings)


def outcome_line(record: RunRecord) -> str:
    reason = f" ({record.stop_reason})" if record.stop_reason else ""
    return f"{record.run_id} {record.name}: {record.state}{reason}; artifacts: {artifacts(record)}"


def table(records: Iterable[RunRecord]) -> str:
    rows = [("RUN", "STATE", "ATTEMPT", "CREATED", "NAME")]
    rows += [(r.run_id, r.state, str(r.attempt), when(r.created_at), r.name) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)) + "  " + row[4]
        for row in rows
    )


def status_line(record: RunRecord) -> str:
    updated = when(record.updated_at)
    return f"{record.run_id} {record.state} attempt={record.attempt} {record.name} updated={updated}"


def details(record: RunRecord) -> str:
    """`nightshift show`: everything a user asks after a run."""
    lines = [
        f"run:        {record.run_id}",
        f"name:       {record.name}",
        f"state:      {record.state} (attempt {record.attempt})",
        f"stop:       {record.stop_reason or '-'}",
        f"error:      {record.error or '-'}",
        f"created:    {when(record.created_at)}",
        f"started:    {when(record.started_at)}",
        f"finished:   {when(record.finished_at)}",
        f"usage:      {_usage(record.usage)}",
        f"cost:       {_cost(record.cost_usd)}",
        f"artifacts:  {artifacts(record)}",
        f"tags:       {', '.join(record.tags) or '-'}",
    ]
    result = json.dumps(record.result, indent=2, sort_keys=True, default=str)
    lines.append("result:     -" if record.result is None else "result:\n" + _indent(result))
    return "\n".join(lines)


def counts(by_state: Mapping[RunState, int], queue_depth: int) -> str:
    parts = [f"{state}={n}" for state, n in sorted(by_state.items())] or ["no runs"]
    return f"runs: {' '.join(parts)}\nbroker queue: {queue_depth} message(s) waiting"


def _usage(usage: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(usage.items())) or "-"


def _cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.4f}"


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
