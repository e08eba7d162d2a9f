"""Cancellation of a run in flight: a watcher that removes the sandbox as soon as a cancel is
requested, so even a long tool call (a 10-minute bash command) ends at once. The loop's own
between-steps check (``Hooks.cancel_requested``) covers the rest."""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable

import redis
import structlog

from core.records import Records

log = structlog.get_logger("nightshift.cancel")


class CancelWatcher:
    def __init__(self, records: Records, run_id: str, on_cancel: Callable[[], None], poll_s: float = 1.0):
        self.records = records
        self.run_id = run_id
        self.on_cancel = on_cancel
        self.poll_s = poll_s
        self._stop = threading.Event()
        # the run's structlog context (run_id, attempt) goes along into the thread
        self._thread = threading.Thread(target=contextvars.copy_context().run, args=(self._watch,),
                                        name=f"cancel:{run_id}", daemon=True)

    def __enter__(self) -> CancelWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _requested(self) -> bool:
        try:
            return self.records.cancel_requested(self.run_id)
        except redis.RedisError:
            return False  # Redis restarting: look again next poll

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_s):
            if self._requested() and self._cancel():
                return

    def _cancel(self) -> bool:
        """Stop the sandbox; a failure (Docker busy) is logged and tried again next poll."""
        try:
            self.on_cancel()
        except Exception as exc:
            log.warning("cancel could not stop the sandbox yet", error=str(exc))
            return False
        log.info("run cancelled in flight")
        return True
