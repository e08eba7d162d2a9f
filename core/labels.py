"""The Docker labels every sandbox container carries: what the reaper, the tests and an operator
(``docker ps --filter label=nightshift.run_id=...``) read to know whose container it is."""

from __future__ import annotations

SANDBOX = "nightshift.sandbox"  # "1" on every container nightshift started
RUN_ID = "nightshift.run_id"
ATTEMPT = "nightshift.attempt"
DEADLINE = "nightshift.deadline"  # epoch seconds after which the container is removed, run or not
WORKER = "nightshift.worker"  # the host whose worker started it
# The fleet (queue) it belongs to: a reaper only ever touches its own fleet's sandboxes, never
# those of another fleet (or a test) sharing the Docker engine.
FLEET = "nightshift.fleet"


def for_attempt(run_id: str, attempt: int, deadline: int, worker: str, fleet: str) -> dict[str, str]:
    """The labels of one run attempt's sandbox (``SANDBOX`` is added by the launcher)."""
    return {RUN_ID: run_id, ATTEMPT: str(attempt), DEADLINE: str(deadline), WORKER: worker, FLEET: fleet}
