"""Real sandboxes for the sandbox tests: the real image, started through workers/sandbox/.

One desktop sandbox (1024x768) is shared by the whole area to keep the suite quick; tests that
need a different screen or a fresh container start their own and stop it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.settings import Settings
from tests.sandbox.desk import Desk, EventLog
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.docker


@pytest.fixture(scope="session")
def sandbox_settings(sandbox_image: str) -> Iterator[Settings]:
    with tempfile.TemporaryDirectory(prefix="ns-sock-") as sockets:
        yield Settings(
            sandbox_image=sandbox_image,
            sandbox_socket_dir=Path(sockets),
            sandbox_start_timeout_s=60.0,
            sandbox_ready_timeout_s=60.0,
            tool_timeout_s=60.0,
        )


@pytest.fixture(scope="session")
def launcher(docker_client, sandbox_settings: Settings) -> SandboxLauncher:  # type: ignore[no-untyped-def]
    return SandboxLauncher(docker_client, sandbox_settings)


@pytest.fixture(scope="session")
def desktop_sandbox(launcher: SandboxLauncher) -> Iterator[Sandbox]:
    sandbox = launcher.start("test-desktop", 1024, 768, labels={"nightshift.test": "1"})
    try:
        sandbox.wait_ready()
        yield sandbox
    finally:
        sandbox.stop()


@pytest.fixture(scope="session")
def desk(desktop_sandbox: Sandbox) -> Desk:
    return Desk(desktop_sandbox)


@pytest.fixture(scope="module")
def events(desk: Desk) -> Iterator[EventLog]:
    """The event-logging window covering the screen (started once per module)."""
    log = EventLog(desk)
    log.start()
    yield log
    log.stop()
