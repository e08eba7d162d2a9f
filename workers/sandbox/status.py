"""What the Docker engine says about a sandbox container: running, exit code, OOM, last logs."""

from __future__ import annotations

import time
from dataclasses import dataclass

from docker.models.containers import Container

GONE_GRACE_S = 2.0


@dataclass(frozen=True)
class ContainerStatus:
    running: bool
    exit_code: int | None
    oom_killed: bool
    error: str

    def describe(self) -> str:
        if self.running:
            return "the container is still running"
        why = f"exit code {self.exit_code}"
        if self.oom_killed:
            why += ", killed for running out of memory (OOM)"
        if self.error:
            why += f", {self.error}"
        return f"the container exited ({why})"


def settled_status(container: Container, grace_s: float = GONE_GRACE_S) -> ContainerStatus:
    """The container's status once a dying container has had time to be recorded as exited
    (the channel closes a moment before the engine notices the exit)."""
    deadline = time.monotonic() + grace_s
    status = container_status(container)
    while status.running and time.monotonic() < deadline:
        time.sleep(0.1)
        status = container_status(container)
    return status


def container_status(container: Container) -> ContainerStatus:
    try:
        container.reload()
        state = container.attrs.get("State", {})
    except Exception as exc:  # docker.errors.NotFound / APIError: it is gone
        return ContainerStatus(False, None, False, f"container no longer exists: {exc}")
    return ContainerStatus(
        bool(state.get("Running")),
        state.get("ExitCode"),
        bool(state.get("OOMKilled")),
        str(state.get("Error") or ""),
    )


def tail_logs(container: Container, lines: int = 20) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:
        return "no logs"
    return f"last log lines: {text}" if text else "no logs"
