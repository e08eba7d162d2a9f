"""Start a least-privilege sandbox container and connect to its executor.

    launcher = SandboxLauncher(docker_client, settings)
    sandbox = launcher.start(run_id, 1024, 768, labels={...})
    try:
        sandbox.wait_ready()
        out = sandbox.call({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})
    finally:
        sandbox.stop()

One unix-socket channel per sandbox; no ``docker exec`` on the hot path. The worker listens on a
socket in a per-run directory of its own (0711: others may pass through to the socket, not list or
write) under a private parent (0700); that directory is bind-mounted read-only into the sandbox,
where the executor dials the socket (workers/sandbox/channel.py). The sandbox cannot write a byte
into the directory, plant a symlink there, or swap the socket. Another worker process of the same
host can take a running sandbox over (``attach``: a resumed run, a claimed warm sandbox): it binds a
fresh socket at the same path, and the executor's next dial finds it (a bind mount of the socket
file alone would pin the first socket's inode).

The sandbox's writable space is tmpfs only, sized so that all of it together stays below the
memory limit (``Settings.sandbox_tmpfs_budget_mb``): a full disk is "No space left on device" and
the desktop lives on, never an out-of-memory kill of the whole sandbox.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import docker
from docker.models.containers import Container

from core import labels as label
from core.errors import SandboxStartError
from core.settings import Settings
from sandbox_image.executor import protocol
from workers.sandbox.sandbox import Sandbox

SANDBOX_UID = 1000
SOCKET_DIR_MODE = 0o711


def _safe_name(run_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)[:64] or "run"


@dataclass(frozen=True)
class _RunSpec:
    image: str
    width: int
    height: int
    network: bool | str  # False: none, True: the default bridge, a name: that (egress) network
    labels: dict[str, str]
    env: dict[str, str]


class SandboxLauncher:
    """Starts sandboxes with the least-privilege flags; the Docker client is passed in."""

    def __init__(self, docker_client: docker.DockerClient, settings: Settings) -> None:
        self.docker = docker_client
        self.settings = settings

    def start(
        self,
        run_id: str,
        width: int = 1024,
        height: int = 768,
        *,
        network: bool | str = False,
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
        listener = listen(socket_dir / protocol.SOCKET_NAME)
        try:
            spec = _RunSpec(
                image or self.settings.sandbox_image, width, height, network, labels or {}, env or {}
            )
            container = self._run(name, socket_dir, spec)
        except Exception as exc:
            listener.close()
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise SandboxStartError(f"could not start sandbox {name}: {exc}") from exc
        sandbox = Sandbox(container, socket_dir, self.settings, listener)
        try:
            sandbox.connect(deadline)
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    def attach(self, container: Container, timeout_s: float | None = None) -> Sandbox:
        """Take over a running sandbox that another process of this host started: listen afresh at
        its socket and connect (SandboxStartError when its executor does not come)."""
        timeout = self.settings.sandbox_start_timeout_s if timeout_s is None else timeout_s
        socket_dir = self.socket_dir_of(container)
        if not socket_dir.is_dir():
            raise SandboxStartError(f"sandbox {str(container.id)[:12]}: no socket directory on this host")
        sandbox = Sandbox(container, socket_dir, self.settings, listen(socket_dir / protocol.SOCKET_NAME))
        try:
            sandbox.connect(time.monotonic() + timeout)
        except BaseException:
            sandbox.release()  # no listener left behind; the container is the caller's to judge
            raise
        return sandbox

    def socket_dir_of(self, container: Container) -> Path:
        return Path(self.settings.sandbox_socket_dir) / str(container.name)

    def _socket_dir(self, name: str) -> Path:
        parent = Path(self.settings.sandbox_socket_dir)
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)  # no one else on the host gets in
        path = parent / name
        path.mkdir(mode=0o700)
        path.chmod(SOCKET_DIR_MODE)  # the sandbox passes through to the socket; cannot list or write
        return path

    def _run(self, name: str, socket_dir: Path, spec: _RunSpec) -> Container:
        s = self.settings
        user = f"uid={SANDBOX_UID},gid={SANDBOX_UID},mode=0700"
        return self.docker.containers.run(
            spec.image,
            name=name,
            detach=True,
            user=f"{SANDBOX_UID}:{SANDBOX_UID}",
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={
                "/tmp": f"size={s.sandbox_tmp_mb}m,mode=1777",
                "/home/user": f"size={s.sandbox_home_mb}m,{user}",
                "/run/user/1000": f"size={s.sandbox_run_user_mb}m,{user}",
                "/var/tmp": f"size={s.sandbox_var_tmp_mb}m,mode=1777",
            },
            shm_size=f"{s.sandbox_shm_mb}m",
            network_mode=_network_mode(spec.network),
            mem_limit=f"{s.sandbox_memory_mb}m",
            memswap_limit=f"{s.sandbox_memory_mb}m",
            nano_cpus=int(s.sandbox_cpus * 1e9),
            pids_limit=s.sandbox_pids_limit,
            init=True,
            labels={**spec.labels, label.SANDBOX: "1"},
            environment={**spec.env, "WIDTH": str(spec.width), "HEIGHT": str(spec.height),
                         protocol.DIAL_ENV: protocol.SOCKET_IN_SANDBOX},
            volumes={str(socket_dir): {"bind": protocol.SOCKET_DIR_IN_SANDBOX, "mode": "ro"}},
        )


def _network_mode(network: bool | str) -> str:
    if isinstance(network, str):
        return network
    return "bridge" if network else "none"


def listen(path: Path) -> socket.socket:
    """The worker's end of the channel: a listening socket the sandbox user may connect to. A
    socket already there (its earlier owner's) is replaced; anything else there is an error."""
    if path.is_socket():
        path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        try:
            os.chown(path, SANDBOX_UID, SANDBOX_UID)
            path.chmod(0o600)
        except PermissionError:  # not root: any uid may connect, but the 0700 parent hides it
            path.chmod(0o666)
        listener.listen(4)
    except BaseException:
        listener.close()
        raise
    return listener

