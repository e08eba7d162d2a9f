"""Starting, talking to, breaking and stopping sandboxes through workers/sandbox/."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from core.errors import SandboxError, SandboxGoneError, SandboxStartError, ToolTimeoutError
from core.settings import Settings
from sandbox_image.executor import protocol
from sandbox_image.start import clear_stale_lock
from tests.sandbox.desk import Desk, image_of
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

SCREENSHOT = ({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})


@pytest.fixture
def fresh(launcher: SandboxLauncher) -> Iterator[Sandbox]:
    sandbox = launcher.start("test-fresh", 800, 600, labels={"nightshift.test": "fresh", "team": "qa"})
    yield sandbox
    sandbox.stop()


@pytest.mark.docker
def test_first_screenshot_works_right_after_start(fresh: Sandbox) -> None:
    output = fresh.call(*SCREENSHOT)  # no wait_ready: the executor waits for X itself
    assert not output.is_error and image_of(output).size == (800, 600)
    assert fresh.api_size == (800, 600)


@pytest.mark.docker
def test_hello_describes_the_sandbox(fresh: Sandbox) -> None:
    info = fresh.hello()
    assert info["screen_size"] == [800, 600] and info["api_size"] == [800, 600]
    assert "computer_toolset_20260801" in info["tool_types"] and "bash_20250124" in info["tool_types"]


@pytest.mark.docker
def test_wait_ready_sees_the_window_manager_and_panel(fresh: Sandbox) -> None:
    state = fresh.wait_ready()
    assert state["window_manager"] and state["panel"]


@pytest.mark.docker
def test_the_callers_labels_are_set_and_the_sandbox_is_marked(fresh: Sandbox) -> None:
    labels = fresh.container.labels
    assert (labels["nightshift.test"], labels["team"], labels["nightshift.sandbox"]) == ("fresh", "qa", "1")
    assert fresh.container.name.startswith("nightshift-test-fresh-")


@pytest.mark.docker
def test_stop_removes_container_and_socket_dir_and_can_repeat(
    docker_client, launcher: SandboxLauncher
) -> None:  # type: ignore[no-untyped-def]
    sandbox = launcher.start("test-stop")
    socket_dir = sandbox.socket_dir
    assert socket_dir.is_dir()
    sandbox.stop()
    sandbox.stop()
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(sandbox.container_id)
    assert not socket_dir.exists()
    with pytest.raises(SandboxGoneError):
        sandbox.call(*SCREENSHOT)


@pytest.mark.docker
def test_put_file_places_bytes_with_mode(desk: Desk) -> None:
    desk.sandbox.put_file("/home/user/inbox/data.bin", b"\x00\x01binary\xff", 0o600)
    assert desk.sh("stat -c %a /home/user/inbox/data.bin; od -An -tx1 /home/user/inbox/data.bin") == (
        "600\n 00 01 62 69 6e 61 72 79 ff"
    )
    with pytest.raises(SandboxError, match="Read-only file system"):
        desk.sandbox.put_file("/usr/planted", b"x")


@pytest.mark.docker
def test_a_container_that_dies_mid_call_is_reported_as_gone(fresh: Sandbox) -> None:
    threading.Timer(0.5, lambda: fresh.container.kill()).start()
    with pytest.raises(SandboxGoneError, match=r"exited \(exit code 137"):
        fresh.call({"type": "computer_20250124", "name": "computer"}, {"action": "wait", "duration": 30})


@pytest.mark.docker
def test_interrupting_the_channel_wakes_a_blocked_call_at_once(fresh: Sandbox) -> None:
    threading.Timer(0.3, fresh.channel.interrupt).start()  # what a cancel does from another thread
    started = time.monotonic()
    with pytest.raises(SandboxGoneError, match="channel closed by the worker"):
        fresh.call({"type": "computer_20250124", "name": "computer"}, {"action": "wait", "duration": 20})
    assert time.monotonic() - started < 10, "it did not wait for the 20 s action"


@pytest.mark.docker
def test_a_slow_reply_is_a_timeout_and_the_channel_recovers(
    launcher: SandboxLauncher, sandbox_settings
) -> None:  # type: ignore[no-untyped-def]
    impatient = sandbox_settings.model_copy(update={"tool_timeout_s": 2.0})
    sandbox = SandboxLauncher(launcher.docker, impatient).start("test-timeout")
    try:
        with pytest.raises(ToolTimeoutError, match="no reply to call within 2s"):
            sandbox.call({"type": "bash_20250124", "name": "bash"}, {"command": "sleep 3; echo late"})
        output = sandbox.call({"type": "bash_20250124", "name": "bash"}, {"command": "echo again"})
        assert output.text == "again"
    finally:
        sandbox.stop()


@pytest.mark.docker
def test_garbage_on_the_channel_does_not_kill_the_executor(desk: Desk) -> None:
    channel = desk.sandbox.channel
    channel.close()  # one connection at a time: step aside (the next call takes the next one)
    channel.listener.settimeout(10)
    raw, _ = channel.listener.accept()  # the executor dials the worker's socket again
    with raw:
        raw.settimeout(10)
        protocol.send_frame(raw, b"{not json")
    raw, _ = channel.listener.accept()  # ...and again after the garbage dropped the connection
    with raw:
        raw.settimeout(10)
        protocol.send_json(raw, {"id": "x", "op": "dance"})
        reply = protocol.recv_json(raw)
        assert reply["is_error"] and reply["text"] == "unknown op: 'dance'"
        protocol.send_json(raw, {"id": "y", "op": "call", "tool": "computer"})
        assert protocol.recv_json(raw)["is_error"]
    assert desk.ok("cursor_position").text.startswith("X=")


@pytest.mark.docker
def test_a_restarted_container_comes_back_clean(fresh: Sandbox) -> None:
    fresh.call({"type": "bash_20250124", "name": "bash"}, {"command": "echo before"})
    fresh.container.restart(timeout=5)
    fresh.channel.close()
    fresh.connect(time.monotonic() + 30)
    assert fresh.wait_ready()["panel"]
    assert not fresh.call(*SCREENSHOT).is_error


@pytest.mark.docker
def test_a_missing_image_is_a_start_error(docker_client, sandbox_settings: Settings) -> None:  # type: ignore[no-untyped-def]
    settings = sandbox_settings.model_copy(update={"sandbox_image": "nightshift-no-such-image:never"})
    with pytest.raises(SandboxStartError, match="could not start sandbox"):
        SandboxLauncher(docker_client, settings).start("test-missing")


def test_a_stale_x_lock_is_removed_only_when_its_server_is_gone(tmp_path: Path) -> None:
    (tmp_path / ".X11-unix").mkdir()
    lock, sock = tmp_path / ".X1-lock", tmp_path / ".X11-unix" / "X1"
    lock.write_text("      999999\n")  # no such process
    sock.write_text("")
    assert clear_stale_lock(1, tmp_path)
    assert not lock.exists() and not sock.exists()
    lock.write_text(f"{1}\n")  # pid 1 here is not an X server either
    assert clear_stale_lock(1, tmp_path)
    assert not clear_stale_lock(1, tmp_path), "nothing left to clear"
