"""The sandbox is least-privilege, seen from inside (through the bash tool, as the agent sees it)
and from the engine's own record of the container."""

from __future__ import annotations

import pytest

from core.settings import Settings
from tests.sandbox.desk import Desk

pytestmark = pytest.mark.docker


def fails(desk: Desk, command: str) -> str:
    """Run ``command``; assert it failed; return its output."""
    out = desk.sh(f'{{ {command} ; }} 2>&1; echo "rc=$?"')
    assert not out.endswith("rc=0"), f"{command!r} succeeded: {out}"
    return out


def test_runs_as_the_unprivileged_user(desk: Desk) -> None:
    assert desk.sh("id -u; id -un; echo $HOME") == "1000\nuser\n/home/user"
    assert desk.sh("ps -eo user= | sort -u") == "user", "every process in the sandbox is the user's"


def test_has_no_capabilities_and_cannot_gain_privileges(desk: Desk) -> None:
    status = dict(
        line.split(":\t", 1) for line in desk.sh("cat /proc/self/status").splitlines() if ":\t" in line
    )
    for field in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
        assert int(status[field].strip(), 16) == 0, field
    assert status["NoNewPrivs"].strip() == "1"


def test_cannot_become_root(desk: Desk) -> None:
    fails(desk, "sudo -n true")
    fails(desk, "su -c true root < /dev/null")
    assert desk.sh("find / -xdev -perm /6000 -type f 2>/dev/null | wc -l") == "0", "no setuid/setgid files"
    fails(desk, "python3 -c 'import os; os.setuid(0)'")


def test_root_filesystem_is_read_only_and_scratch_space_is_writable(desk: Desk) -> None:
    assert "Read-only file system" in fails(desk, "touch /usr/local/bin/planted")
    assert "Read-only file system" in fails(desk, "touch /etc/planted")
    desk.sh("touch /tmp/ok /home/user/ok /var/tmp/ok")


def test_cannot_see_the_docker_engine(desk: Desk) -> None:
    fails(desk, "test -e /var/run/docker.sock || test -e /run/docker.sock")
    assert desk.sh("find / -xdev -name 'docker.sock' 2>/dev/null | wc -l") == "0"


def test_has_no_network_by_default(desk: Desk) -> None:
    interfaces = desk.sh("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '")
    assert interfaces == "lo"
    probe = "import socket; s = socket.create_connection(({host!r}, {port}), timeout=3)"
    assert "unreachable" in fails(desk, f'python3 -c "{probe.format(host="172.17.0.1", port=2375)}"')
    assert "unreachable" in fails(desk, f'python3 -c "{probe.format(host="1.1.1.1", port=443)}"')
    fails(desk, "python3 -c \"import socket; socket.getaddrinfo('deb.debian.org', 443)\"")


def test_listens_on_no_tcp_port(desk: Desk) -> None:
    listening = desk.sh("awk '$4 == \"0A\"' /proc/net/tcp /proc/net/tcp6 | wc -l")
    assert listening == "0"
    assert desk.sh("ps -eo comm= | grep -ci vnc || true") == "0"


def test_the_engine_runs_it_with_the_least_privilege_flags(desk: Desk, sandbox_settings: Settings) -> None:
    container = desk.sandbox.container
    container.reload()
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "1000:1000"
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["ReadonlyRootfs"] is True and host["Privileged"] is False
    assert host["NetworkMode"] == "none"
    assert host["Memory"] == sandbox_settings.sandbox_memory_mb * 1024 * 1024
    assert host["NanoCpus"] == int(sandbox_settings.sandbox_cpus * 1e9)
    assert host["PidsLimit"] == sandbox_settings.sandbox_pids_limit
    assert host["Init"] is True
    assert not container.attrs["NetworkSettings"]["Ports"]


def test_limits_are_visible_inside(desk: Desk, sandbox_settings: Settings) -> None:
    pids_max = desk.sh("cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max")
    assert pids_max == str(sandbox_settings.sandbox_pids_limit)
    memory = desk.sh(
        "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes"
    )
    assert int(memory) == sandbox_settings.sandbox_memory_mb * 1024 * 1024
