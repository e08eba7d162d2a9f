"""What a person reads in the morning: one batch's runs with states, verdicts, cost and duration
(``nightshift batch``), and the summary of a period (``nightshift summary --since 12h``)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from core.records import RunRecord
from core.states import RunState, Verdict
from scheduler.present import artifacts, when

_SPAN = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
SLOWEST = 5


def span_s(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``2d``, ``1w`` in seconds; ValueError with the accepted forms."""
    match = _SPAN.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a time span; use e.g. 30m, 12h, 2d")
    return float(match[1]) * _UNIT_S[match[2]]


def duration_s(record: RunRecord) -> float | None:
    """How long the run's last attempt took, start to end (None until it has both)."""
    if record.started_at and record.finished_at:
        return max(0.0, record.finished_at - record.started_at)
    return None


def verdict_text(record: RunRecord) -> str:
    return str(record.verdict) if record.verdict else "-"


def failing_checks(record: RunRecord) -> list[dict[str, Any]]:
    return [c for c in record.checks if not c.get("passed") and not c.get("skipped")]


def batch_table(records: Sequence[RunRecord]) -> str:
    rows = [("RUN", "STATE", "VERDICT", "COST", "DURATION", "NAME")]
    for r in records:
        rows.append((r.run_id, r.state, verdict_text(r), _cost(r.cost_usd), _secs(duration_s(r)), r.name))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = ["  ".join([*(c.ljust(w) for c, w in zip(row[:5], widths, strict=True)), row[5]]) for row in rows]
    return "\n".join([*lines, "", totals_line(records)])


def totals_line(records: Sequence[RunRecord]) -> str:
    cost = sum(r.cost_usd or 0.0 for r in records)
    busy = sum(duration_s(r) or 0.0 for r in records)
    starts = [r.created_at for r in records if r.created_at]
    ends = [r.finished_at for r in records if r.finished_at]
    done = starts and ends and len(ends) == len(records)
    wall = f"{max(ends) - min(starts):.1f}s" if done else "unfinished"
    return (f"total: {len(records)} run(s); {_counts(r.state for r in records)}; verdicts: "
            f"{_counts(verdict_text(r) for r in records)}; cost {_cost(cost)}; run time {busy:.1f}s; "
            f"batch wall time {wall}")


def summary(records: Sequence[RunRecord], since: float) -> str:
    lines = [f"since {when(since)}: {len(records)} run(s)"]
    if not records:
        return lines[0]
    lines += [
        f"by state:    {_counts(r.state for r in records)}",
        f"by verdict:  {_counts(str(r.verdict or 'none') for r in records)}",
        f"cost:        {_cost(sum(r.cost_usd or 0.0 for r in records))}",
        f"tokens:      {_tokens(records)}",
    ]
    failures = [r for r in records if _failed(r)]
    lines.append(f"failures ({len(failures)}):" if failures else "failures: none")
    lines += [f"  {failure_line(r)}" for r in failures]
    slow = sorted((r for r in records if duration_s(r) is not None), key=lambda r: -(duration_s(r) or 0.0))
    lines.append(f"slowest ({min(SLOWEST, len(slow))}):")
    lines += [f"  {_secs(duration_s(r)):>8}  {r.run_id}  {r.name}" for r in slow[:SLOWEST]]
    return "\n".join(lines)


def _failed(record: RunRecord) -> bool:
    bad_state = record.terminal and record.state not in (RunState.SUCCEEDED, RunState.CANCELLED)
    return bad_state or record.verdict == Verdict.FAILED


def failure_line(record: RunRecord) -> str:
    why = record.stop_reason or "-"
    checks = ", ".join(str(c.get("name")) for c in failing_checks(record))
    extra = f"; failing checks: {checks}" if checks else ""
    error = f"; {record.error}" if record.error else ""
    return f"{record.run_id} {record.name}: {record.state} ({why}){extra}{error}; {artifacts(record)}"


def _tokens(records: Iterable[RunRecord]) -> str:
    total: Counter[str] = Counter()
    for record in records:
        total.update({k: int(v) for k, v in record.usage.items() if isinstance(v, int | float)})
    return ", ".join(f"{k}={v}" for k, v in sorted(total.items())) or "-"


def _counts(values: Iterable[str]) -> str:
    return " ".join(f"{k}={n}" for k, n in sorted(Counter(values).items()))


def _cost(cost: float | None) -> str:
    return "-" if cost is None else f"${cost:.4f}"


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"
