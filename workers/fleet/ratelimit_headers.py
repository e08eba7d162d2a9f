"""What the Messages API's response headers say about its rate limits: ``retry-after`` and the
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{remaining,reset}`` pairs.
A limit whose remaining count is 0 pauses the fleet until its reset, so the fleet slows down
before it is throttled rather than after."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

LIMITS = ("requests", "tokens", "input-tokens", "output-tokens")
MAX_PAUSE_S = 600.0


def _reset_in(raw: str | None, now: float) -> float | None:
    if not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() - now


def _seconds(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


def pause_s(headers: Mapping[str, str], now: float) -> float:
    """Seconds the fleet should hold its requests (0: none), from one response's headers."""
    waits = [_seconds(headers.get("retry-after")) or 0.0]
    for limit in LIMITS:
        remaining = _seconds(headers.get(f"anthropic-ratelimit-{limit}-remaining"))
        if remaining is not None and remaining <= 0:
            waits.append(_reset_in(headers.get(f"anthropic-ratelimit-{limit}-reset"), now) or 0.0)
    return min(max(waits), MAX_PAUSE_S)
