"""The sandbox cannot write to the host (issue 11, part 2), against real containers.

The executor channel: the worker listens on a socket in a host directory of its own (0711 under a
0700 parent), bind-mounted read-only into the sandbox; the executor dials it. So the sandbox cannot
put a byte into the host directory, cannot replace the socket nor plant a symlink (and the worker
follows no path: it accepts on the socket it made). The writable space is
tmpfs sized below the memory limit: a full disk is ENOSPC and the executor goes on answering.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from sandbox_image.executor import protocol
from tests.sandbox.desk import Desk
from tests.sandbox.test_security import fails
from workers.sandbox.launcher import SOCKET_DIR_MODE, SandboxLauncher
from workers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.docker
SOCKET = protocol.SOCKET_IN_SANDBOX
SCREENSHOT = ({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})


def host_bytes(directory: Path) -> int:
    """Bytes and entries the host directory holds (a socket's own size is 0)."""
    return sum(p.lstat().st_size + 1 for p in directory.rglob("*"))


def test_the_sandbox_cannot_grow_or_change_the_channel_directory(desk: Desk) -> None:
    host_dir = desk.sandbox.socket_dir
    before = host_bytes(host_dir)
    assert "Read-only file system" in fails(desk, "head -c 300M /dev/zero > /run/nightshift/fill")
    fails(desk, f"head -c 1M /dev/zero > {SOCKET}")
    fails(desk, f"rm -f {SOCKET}")
    fails(desk, f"mv {SOCKET} /run/nightshift/moved")
    fails(desk, f"ln -sfn /var/run/docker.sock {SOCKET}")
    fails(desk, "ln -s /etc /run/nightshift/planted")
    fails(desk, "mkdir /run/nightshift/sub")
    fails(desk, f"chmod 777 {SOCKET}")
    bind = f"import socket; socket.socket(socket.AF_UNIX).bind('{SOCKET}.2')"
    fails(desk, f'python3 -c "{bind}"')

    assert [p.name for p in host_dir.iterdir()] == [protocol.SOCKET_NAME]
    mode = (host_dir / protocol.SOCKET_NAME).lstat().st_mode
    assert stat.S_ISSOCK(mode) and host_bytes(host_dir) == before == 1
    assert stat.S_IMODE(host_dir.stat().st_mode) == SOCKET_DIR_MODE == 0o711
    assert desk.ok("cursor_position").text.startswith("X=")  # the channel still serves


def test_the_sandbox_sees_the_channel_directory_but_cannot_list_it(desk: Desk) -> None:
    """The directory is the worker's (0711): the executor passes through to the socket it knows the
    name of; nothing else in there (another run's socket lives in another directory) is listable."""
    assert "Permission denied" in fails(desk, "ls /run/nightshift")
    assert desk.sh(f"test -S {SOCKET} && echo socket") == "socket"
    assert os.stat(desk.sandbox.socket_dir).st_uid == os.getuid()


@pytest.fixture
def roomy(launcher: SandboxLauncher) -> Iterator[Sandbox]:
    sandbox = launcher.start("test-full-disk", 800, 600, labels={"nightshift.test": "full"})
    sandbox.wait_ready()  # a model fills the disk of a running desktop, not of one still starting
    yield sandbox
    sandbox.stop()


def test_full_tmpfs_mounts_are_enospc_and_the_sandbox_lives_on(
    roomy: Sandbox, sandbox_settings: Settings
) -> None:
    desk = Desk(roomy)
    s = sandbox_settings
    sizes = {"/tmp": s.sandbox_tmp_mb, "/home/user": s.sandbox_home_mb, "/var/tmp": s.sandbox_var_tmp_mb,
             "/run/user/1000": s.sandbox_run_user_mb, "/dev/shm": s.sandbox_shm_mb}
    for mount, size_mb in sizes.items():
        assert desk.sh(f"df -m --output=size {mount} | tail -1").strip() == str(size_mb), mount
    fill = " ; ".join(f"head -c {mb + 8}M /dev/zero 2>&1 > {mount}/fill" for mount, mb in sizes.items())
    out = desk.sh(f"{fill}; true")
    assert out.count("No space left on device") == len(sizes), out

    assert not roomy.call(*SCREENSHOT).is_error  # the desktop and the executor live on
    assert desk.sh("echo alive; df -m --output=avail /tmp | tail -1").split() == ["alive", "0"]
    roomy.container.reload()
    assert roomy.container.attrs["State"]["OOMKilled"] is False and roomy.container.status == "running"
    desk.sh(" ; ".join(f"rm -f {mount}/fill" for mount in sizes))
    assert desk.sh("echo room > /tmp/after && cat /tmp/after") == "room"


def test_tmpfs_that_would_not_fit_in_memory_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="exceed sandbox_memory_mb"):
        Settings(sandbox_memory_mb=1024)
    assert Settings().sandbox_tmpfs_budget_mb + Settings().sandbox_process_reserve_mb <= 2048
