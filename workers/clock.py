"""Time as the loop sees it: a monotonic clock, a sleep, and today's date. Injected so tests and
benchmarks never sleep for real."""

from __future__ import annotations

import datetime as dt
import time
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...

    def today(self) -> dt.date: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))

    def today(self) -> dt.date:
        return dt.datetime.now(dt.UTC).date()


SYSTEM_CLOCK = SystemClock()
