"""Start a least-privilege sandbox container and connect to its executor.

    launcher = SandboxLauncher(docker_client, settings)
    sandbox = launcher.start(run_id, 1024, 768, labels={...})
    try:
        sandbox.wait_ready()
        out = sandbox.call({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})
    finally:
        sandbox.stop()

One unix-socket channel per sandbox, bind-mounted from a per-run host directory; no ``docker exec``
on the hot path.
"""

from __future__ import annotations

import os
import re
import shutil
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

    def __init__(self, docker_client: docker.DockerClient, settings: Settings) -> None:
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

    def _run(self, name: str, socket_dir: Path, spec: _RunSpec) -> Container:
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
            labels={**spec.labels, label.SANDBOX: "1"},
            environment={**spec.env, "WIDTH": str(spec.width), "HEIGHT": str(spec.height)},
            volumes={str(socket_dir): {"bind": protocol.SOCKET_DIR_IN_SANDBOX, "mode": "rw"}},
        )

