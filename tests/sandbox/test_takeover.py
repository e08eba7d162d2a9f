"""Another worker process of the host takes a running sandbox over (a resumed run, a claimed warm
sandbox): it listens afresh at the sandbox's socket and the executor's next dial finds it. The
desktop, its files and its processes are the same; the first owner can no longer reach it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from core.errors import SandboxGoneError, SandboxStartError
from core.settings import Settings
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.docker


def sh(sandbox: Sandbox, command: str) -> str:
    out = sandbox.call({"type": "bash_20250124", "name": "bash"}, {"command": command})
    assert not out.is_error, out.text
    return out.text.strip()


@pytest.fixture
def first(launcher: SandboxLauncher) -> Iterator[Sandbox]:
    sandbox = launcher.start("test-takeover", 800, 600, labels={"nightshift.test": "takeover"})
    yield sandbox
    sandbox.stop()


def test_a_released_sandbox_is_taken_over_with_its_files_and_processes(
    first: Sandbox, docker_client: docker.DockerClient, sandbox_settings: Settings
) -> None:
    sh(first, "echo kept > /tmp/mark; sleep 600 & echo $! > /tmp/pid")
    first.release()
    taker = SandboxLauncher(docker_client, sandbox_settings)  # as in another process: nothing shared
    second = taker.attach(docker_client.containers.get(first.container_id))
    try:
        assert second.container_id == first.container_id
        assert sh(second, "cat /tmp/mark") == "kept"
        assert sh(second, "kill -0 $(cat /tmp/pid) && echo alive") == "alive"
        with pytest.raises(SandboxGoneError):
            sh(first, "true")
    finally:
        second.stop()


def test_a_sandbox_whose_owner_died_is_taken_over(
    first: Sandbox, docker_client: docker.DockerClient, sandbox_settings: Settings
) -> None:
    """The owner's process is gone without a word: its connection dropped, its listener closed."""
    sh(first, "echo kept > /tmp/mark")
    first.channel.close()
    first.channel.listener.close()
    second = SandboxLauncher(docker_client, sandbox_settings).attach(first.container)
    assert sh(second, "cat /tmp/mark") == "kept"
    second.stop()


def test_taking_over_a_sandbox_of_another_host_is_refused(
    first: Sandbox, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    elsewhere = Settings(sandbox_socket_dir=tmp_path, sandbox_start_timeout_s=2.0)
    with pytest.raises(SandboxStartError, match="no socket directory on this host"):
        SandboxLauncher(docker_client, elsewhere).attach(first.container)
