"""The worker's side of a sandbox: start a least-privilege container, talk to its executor, stop it.

    launcher = SandboxLauncher(docker_client, settings)
    sandbox = launcher.start(run_id, 1024, 768, labels={...})
    try:
        sandbox.wait_ready()
        out = sandbox.call({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})
    finally:
        sandbox.stop()

One unix-socket channel per sandbox (sandbox_image/executor/protocol.py), bind-mounted from a
per-run host directory; no ``docker exec`` on the hot path. Failures are typed (workers.errors):
SandboxStartError, SandboxGoneError, ToolTimeoutError. Tool mistakes are ToolOutput errors.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker.errors

from sandbox_image.executor import protocol
from scheduler.settings import Settings
from workers.errors import SandboxError, SandboxGoneError, SandboxStartError, ToolTimeoutError
from workers.toolio import ToolOutput

SANDBOX_UID = 1000
LABEL_SANDBOX = "nightshift.sandbox"
CONNECT_BACKOFF_S = (0.005, 0.01, 0.02, 0.05)
STATUS_CHECK_INTERVAL_S = 0.5
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


def _settled_status(container: Any, grace_s: float = GONE_GRACE_S) -> ContainerStatus:
    """The container's status once a dying container has had time to be recorded as exited
    (the channel closes a moment before the engine notices the exit)."""
    deadline = time.monotonic() + grace_s
    status = _container_status(container)
    while status.running and time.monotonic() < deadline:
        time.sleep(0.1)
        status = _container_status(container)
    return status


def _container_status(container: Any) -> ContainerStatus:
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


class Channel:
    """One framed connection to the executor (reconnects lazily after a failure)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock: socket.socket | None = None
        self._ids = 0
        self.interrupted = False  # close() was called while a request may have been in flight
        self.finished = False  # closed for good (the sandbox was stopped): never reconnect
        self.busy = False  # a request is in flight on some thread

    def connect(self, timeout_s: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(self.path))
        except OSError:
            sock.close()
            raise
        self.sock = sock

    def close(self) -> None:
        """Close the channel. Only from the thread that owns the call (see ``interrupt``)."""
        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def interrupt(self) -> None:
        """From another thread (a cancel): wake a call blocked on the channel. shutdown() wakes a
        blocked recv; the fd is NOT closed here, because a closed fd number can be reused at once
        (the Docker client opening a connection) under the blocked call, which would then wait on
        someone else's socket. The owning thread closes it when its call fails."""
        self.finished = True
        sock = self.sock
        if sock is not None:
            self.interrupted = True
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def request(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None = None
    ) -> tuple[dict[str, Any], bytes | None]:
        """Send one request and read its reply (and image frame). Raises OSError/ProtocolError."""
        self.busy, self.interrupted = True, False
        try:
            return self._exchange(message, timeout_s, payload)
        finally:
            self.busy = False

    def _exchange(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None
    ) -> tuple[dict[str, Any], bytes | None]:
        if self.finished:
            raise protocol.ProtocolError("channel closed for good: the sandbox was stopped")
        if self.sock is None:
            self.connect(timeout_s)
        assert self.sock is not None
        self._ids += 1
        message = {**message, "id": str(self._ids)}
        self.sock.settimeout(timeout_s)
        protocol.send_json(self.sock, message)
        if payload is not None:
            protocol.send_frame(self.sock, payload)
        reply = protocol.recv_json(self.sock)
        image = protocol.recv_frame(self.sock) if reply.get("image") else None
        if reply.get("id") != message["id"]:
            raise protocol.ProtocolError(f"reply id {reply.get('id')!r} != request id {message['id']!r}")
        return reply, image


def _call_timeout(settings: Settings, tool_input: Any) -> float:
    """The worker-side deadline: the tool timeout, plus any duration the call asks to wait/hold."""
    duration = tool_input.get("duration") if isinstance(tool_input, dict) else None
    extra = float(duration) if isinstance(duration, int | float) and not isinstance(duration, bool) else 0.0
    return settings.tool_timeout_s + max(0.0, min(extra, 600.0))


class Sandbox:
    """A running sandbox container and its executor channel (implements ToolExecutor)."""

    def __init__(self, container: Any, socket_dir: Path, settings: Settings) -> None:
        self.container = container
        self.container_id: str = container.id
        self.socket_dir = socket_dir
        self.settings = settings
        self.channel = Channel(socket_dir / protocol.SOCKET_NAME)
        self.info: dict[str, Any] = {}
        self._stopped = False
        self._removed = False

    # --- ToolExecutor ------------------------------------------------------------------------------
    @property
    def api_size(self) -> tuple[int, int]:
        width, height = self.info.get("api_size") or self.hello()["api_size"]
        return int(width), int(height)

    @property
    def screen_size(self) -> tuple[int, int]:
        width, height = self.info.get("screen_size") or self.hello()["screen_size"]
        return int(width), int(height)

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        message: dict[str, Any] = {
            "op": "call",
            "tool": dict(tool),  # the whole definition: the editor reads its max_characters
            "input": tool_input,
            "screenshot": screenshot,
        }
        reply, image = self._request(message, _call_timeout(self.settings, tool_input))
        media_type = (reply.get("image") or {}).get("media_type") if image is not None else None
        return ToolOutput(
            text=str(reply.get("text") or ""),
            is_error=bool(reply.get("is_error")),
            image=image,
            media_type=media_type,
            timings_ms=dict(reply.get("timings_ms") or {}),
        )

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- other ops ---------------------------------------------------------------------------------
    def hello(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Screen and API sizes, supported tool types, executor version (cached in ``info``)."""
        timeout = self.settings.tool_timeout_s if timeout_s is None else timeout_s
        reply, _ = self._request({"op": "hello"}, timeout)
        self.info = dict(reply.get("data") or {})
        return self.info

    def wait_ready(self, timeout_s: float | None = None) -> dict[str, Any]:
        """Wait for the window manager and the panel; SandboxStartError if they never come up."""
        timeout = self.settings.sandbox_ready_timeout_s if timeout_s is None else timeout_s
        reply, _ = self._request({"op": "wait_ready", "timeout_s": timeout}, timeout + 10)
        if reply.get("is_error"):
            raise SandboxStartError(f"sandbox {self.container_id[:12]}: {reply.get('text')}")
        return dict(reply.get("data") or {})

    def put_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Write ``data`` to ``path`` inside the sandbox (as the sandbox user)."""
        message = {"op": "put_file", "path": path, "mode": mode, "size": len(data)}
        reply, _ = self._request(message, self.settings.tool_timeout_s, payload=data)
        if reply.get("is_error"):
            raise SandboxError(f"sandbox {self.container_id[:12]}: {reply.get('text')}")

    def stop(self) -> None:
        """Remove the container and its socket directory; safe to call more than once, and
        again after a failed removal (the Docker engine was busy): it retries the removal."""
        self._stopped = True  # no new call from here on
        self.channel.interrupt()  # wakes a call in flight on another thread; never reconnects
        if not self.channel.busy:
            self.channel.close()
        if self._removed:
            return
        try:
            self.container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: removal already in progress
                raise
        self._removed = True
        shutil.rmtree(self.socket_dir, ignore_errors=True)

    # --- plumbing ----------------------------------------------------------------------------------
    def _request(
        self, message: dict[str, Any], timeout_s: float, payload: bytes | None = None
    ) -> tuple[dict[str, Any], bytes | None]:
        if self._stopped:
            raise SandboxGoneError(f"sandbox {self.container_id[:12]} was stopped")
        try:
            return self.channel.request(message, timeout_s, payload)
        except TimeoutError as exc:
            self.channel.close()  # the stream is out of step now: reconnect on the next call
            raise ToolTimeoutError(
                f"sandbox {self.container_id[:12]}: no reply to {message.get('op')} within {timeout_s:.0f}s"
            ) from exc
        except (OSError, protocol.ProtocolError) as exc:
            if self.channel.interrupted:  # closed on purpose (cancel/stop) while this call waited
                self.channel.close()
                raise SandboxGoneError(
                    f"sandbox {self.container_id[:12]}: channel closed by the worker"
                ) from exc
            self.channel.close()
            status = _settled_status(self.container)
            raise SandboxGoneError(
                f"sandbox {self.container_id[:12]}: executor channel broke ({exc}); {status.describe()}"
            ) from exc

    def connect(self, deadline: float) -> None:
        """Connect to the executor as soon as its socket answers, or raise SandboxStartError."""
        attempt, next_status_check = 0, time.monotonic() + STATUS_CHECK_INTERVAL_S
        while True:
            try:
                self.channel.connect(max(0.1, deadline - time.monotonic()))
                self.hello(max(1.0, deadline - time.monotonic()))
                return
            except (OSError, protocol.ProtocolError, SandboxError) as exc:
                self.channel.close()
                self._raise_if_hopeless(exc, deadline, time.monotonic() >= next_status_check)
            if time.monotonic() >= next_status_check:
                next_status_check = time.monotonic() + STATUS_CHECK_INTERVAL_S
            time.sleep(CONNECT_BACKOFF_S[min(attempt, len(CONNECT_BACKOFF_S) - 1)])
            attempt += 1

    def _raise_if_hopeless(self, exc: Exception, deadline: float, check_status: bool) -> None:
        if time.monotonic() >= deadline:
            raise SandboxStartError(
                f"sandbox {self.container_id[:12]}: executor did not answer before the start timeout ({exc})"
            )
        if check_status:
            status = _container_status(self.container)
            if not status.running:
                logs = _tail_logs(self.container)
                raise SandboxStartError(f"sandbox {self.container_id[:12]}: {status.describe()}; {logs}")


def _tail_logs(container: Any, lines: int = 20) -> str:
    try:
        text = container.logs(tail=lines).decode(errors="replace").strip()
    except Exception:
        return "no logs"
    return f"last log lines: {text}" if text else "no logs"


def _safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64] or "run"


@dataclass(frozen=True)
class _RunSpec:
    image: str
    width: int
    height: int
    network: bool
    labels: dict[str, str]
    env: dict[str, str]


class SandboxLauncher:
    """Starts sandboxes with the least-privilege flags; the Docker client is passed in."""

    def __init__(self, docker_client: Any, settings: Settings) -> None:
        self.docker = docker_client
        self.settings = settings

    def start(
        self,
        run_id: str,
        width: int = 1024,
        height: int = 768,
        *,
        network: bool = False,
        labels: dict[str, str] | None = None,
        env: dict[str, str] | None = None,
        image: str | None = None,
    ) -> Sandbox:
        """Run a sandbox container and connect to its executor (does not wait for the desktop).

        ``labels`` are the caller's (run id, attempt, deadline, worker host: what the reaper reads);
        ``nightshift.sandbox=1`` is always added. ``image`` overrides ``settings.sandbox_image``."""
        deadline = time.monotonic() + self.settings.sandbox_start_timeout_s
        name = f"nightshift-{_safe_name(run_id)}-{uuid.uuid4().hex[:8]}"
        socket_dir = self._socket_dir(name)
        try:
            spec = _RunSpec(
                image or self.settings.sandbox_image, width, height, network, labels or {}, env or {}
            )
            container = self._run(name, socket_dir, spec)
        except Exception as exc:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise SandboxStartError(f"could not start sandbox {name}: {exc}") from exc
        sandbox = Sandbox(container, socket_dir, self.settings)
        try:
            sandbox.connect(deadline)
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def _socket_dir(self, name: str) -> Path:
        parent = Path(self.settings.sandbox_socket_dir)
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = parent / name
        path.mkdir(mode=0o700)
        try:
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
        except PermissionError:  # not root: let the sandbox user in; the parent stays private
            path.chmod(0o777)
        return path

    def _run(self, name: str, socket_dir: Path, spec: _RunSpec) -> Any:
        s = self.settings
        tmpfs_opts = f"size={s.sandbox_tmpfs_mb}m"
        user_opts = f"{tmpfs_opts},uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700"
        return self.docker.containers.run(
            spec.image,
            name=name,
            detach=True,
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={
                "/tmp": f"{tmpfs_opts},mode=1777",
                "/home/user": user_opts,
                "/run/user/1000": f"size=16m,uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700",
                "/var/tmp": f"{tmpfs_opts},mode=1777",
            },
            shm_size=f"{min(s.sandbox_tmpfs_mb, 512)}m",
            network_mode="bridge" if spec.network else "none",
            mem_limit=f"{s.sandbox_memory_mb}m",
            memswap_limit=f"{s.sandbox_memory_mb}m",
            nano_cpus=int(s.sandbox_cpus * 1e9),
            pids_limit=s.sandbox_pids_limit,
            init=True,
            labels={**spec.labels, LABEL_SANDBOX: "1"},
            environment={**spec.env, "WIDTH": str(spec.width), "HEIGHT": str(spec.height)},
            volumes={str(socket_dir): {"bind": protocol.SOCKET_DIR_IN_SANDBOX, "mode": "rw"}},
        )
