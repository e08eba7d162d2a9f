"""Backoff for retryable Messages API failures: exponential with full jitter, but a server's
``retry-after-ms`` / ``retry-after`` header wins. Which failures are retryable is decided only by
``core.errors.is_retryable``."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    base_s: float = 1.0
    max_s: float = 60.0
    max_attempts: int = 7  # total tries of one request, the first included
    max_retry_after_s: float = 600.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay_s(self, retry: int, exc: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based) after ``exc``."""
        hinted = retry_after_s(exc)
        if hinted is not None:
            return min(hinted, self.max_retry_after_s)
        ceiling = min(self.max_s, self.base_s * 2.0 ** (retry - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())


def retry_after_s(exc: BaseException | None) -> float | None:
    """The server's requested wait, from ``retry-after-ms`` or ``retry-after`` (seconds or an
    HTTP date), or None when the error carries no usable hint."""
    headers = _headers(exc)
    if headers is None:
        return None
    millis = _number(headers.get("retry-after-ms"))
    if millis is not None:
        return max(0.0, millis / 1000)
    raw = headers.get("retry-after")
    seconds = _number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    return _http_date_delay(raw)


def _headers(exc: BaseException | None) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) else None


def _number(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        return None


def _http_date_delay(raw: str | None) -> float | None:
    if not raw:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
