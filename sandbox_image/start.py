"""Container entrypoint (runs as ``user``): the virtual desktop and the tool executor.

Order, with readiness signals instead of sleeps:

1. Xvfb starts with ``-displayfd``; it writes the display number to a pipe once it accepts clients.
2. The executor starts at the same moment (its imports overlap X start-up); it gets a second pipe
   on which this supervisor relays "X is ready", so the first screenshot needs no polling.
3. mutter and tint2 start in parallel as soon as X is ready; ``wait_ready`` in the executor
   reports when they have mapped. The clipboard keeper (parcellite) starts with them.

Before anything, the seeded profiles (``/opt/nightshift/home``: LibreOffice with no first-run
dialogs, the clipboard keeper's settings) are copied into the fresh home, and a D-Bus session bus
starts (gio and gvfs's trash:/// need one); every child inherits its address.

The supervisor reaps every child (and orphans when it is pid 1), restarts mutter, tint2 and the
executor if they crash, and stops the desktop when the executor exits cleanly (the ``shutdown`` op)
or Xvfb dies. A stale X lock left by an earlier start is removed when its process is gone.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DISPLAY_NUM = 1
X_READY_TIMEOUT_S = 30.0
MAX_RESTARTS = 5
PANEL_CONFIG = "/opt/nightshift/desktop/tint2rc"
HOME_SEED = Path("/opt/nightshift/home")


def seed_home(seed: Path = HOME_SEED, home: Path | None = None) -> int:
    """Copy the seeded profiles into the home, never over a file already there; return the count."""
    home = home or Path(os.environ.get("HOME", "/home/user"))
    copied = 0
    for source in sorted(seed.rglob("*")) if seed.is_dir() else []:
        target = home / source.relative_to(seed)
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        elif not target.exists():
            shutil.copy2(source, target)
            copied += 1
    return copied


def session_bus_address() -> str:
    return f"unix:path={os.environ.get('XDG_RUNTIME_DIR', '/run/user/1000')}/bus"


def screen_size() -> tuple[int, int]:
    width, height = int(os.environ.get("WIDTH", "1024")), int(os.environ.get("HEIGHT", "768"))
    if not (320 <= width <= 7680 and 240 <= height <= 4320):
        raise SystemExit(f"start: unsupported screen size {width}x{height}")
    return width, height


def _pid_is_x_server(pid: int) -> bool:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return False
    return comm.startswith("X")


def clear_stale_lock(display: int, tmp: Path = Path("/tmp")) -> bool:
    """Remove ``/tmp/.X<n>-lock`` and the socket when the server that owned them is gone.
    Returns whether a stale lock was removed."""
    lock = tmp / f".X{display}-lock"
    try:
        pid = int(lock.read_text().strip())
    except (OSError, ValueError):
        pid = 0
    if not lock.exists() or _pid_is_x_server(pid):
        return False
    lock.unlink(missing_ok=True)
    (tmp / ".X11-unix" / f"X{display}").unlink(missing_ok=True)
    return True


def xvfb_command(width: int, height: int, ready_fd: int) -> list[str]:
    return [
        "Xvfb", f":{DISPLAY_NUM}", "-screen", "0", f"{width}x{height}x24", "-retro", "-dpi", "96",
        "-nolisten", "tcp", "-noreset", "-displayfd", str(ready_fd),
    ]  # fmt: skip


def wait_for_display(fd: int, timeout_s: float) -> bool:
    """Block until Xvfb has written its display number and newline (True), or closed the pipe or
    timed out (False). Xvfb writes the number and the newline separately and dies if the pipe is
    closed in between, so read through the newline (and keep the pipe open afterwards)."""
    deadline = time.monotonic() + timeout_s
    received = b""
    while not received.endswith(b"\n"):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 64) if ready else b""
        if not chunk:
            return False
        received += chunk
    return True


def make_socket_dir() -> None:
    """Xvfb only creates /tmp/.X11-unix as root; without it, clients must use abstract sockets."""
    path = Path("/tmp/.X11-unix")
    try:
        path.mkdir(mode=0o1777, exist_ok=True)
        path.chmod(0o1777)
    except OSError:
        pass


def plain_desktop(width: int, height: int, colour: str) -> object:
    """A screen-sized window of type DESKTOP in one colour, painted by the X server itself (no
    redraws, no CPU), mapped once the window manager runs so that mutter stacks it below every
    window from the start (mapped before, it could cover the panel for a moment). Returns the
    connection that owns it, or None when it cannot be made (mutter's own background shows)."""
    try:
        from Xlib import X, Xatom, display

        from sandbox_image.executor.desktop import DESKTOP_WINDOW_NAME

        conn = display.Display(f":{DISPLAY_NUM}")
        screen = conn.screen()
        pixel = int(colour, 16)  # TrueColor, 24 bit: the pixel is the RGB value
        screen.root.change_attributes(background_pixel=pixel)
        screen.root.clear_area()
        window = screen.root.create_window(0, 0, width, height, 0, screen.root_depth, X.InputOutput,
                                           X.CopyFromParent, background_pixel=pixel)
        atom = conn.intern_atom
        desktop_type = atom("_NET_WM_WINDOW_TYPE_DESKTOP")
        window.change_property(atom("_NET_WM_WINDOW_TYPE"), Xatom.ATOM, 32, [desktop_type])
        window.change_property(atom("_NET_WM_STATE"), Xatom.ATOM, 32,
                               [atom("_NET_WM_STATE_SKIP_TASKBAR"), atom("_NET_WM_STATE_SKIP_PAGER")])
        window.set_wm_name(DESKTOP_WINDOW_NAME)
        window.set_wm_class("nightshift-desktop", DESKTOP_WINDOW_NAME)
        conn.sync()
    except Exception as exc:
        print(f"start: plain desktop not set: {exc}", file=sys.stderr)
        return None
    threading.Thread(target=_map_under_wm, args=(conn, window), name="desktop", daemon=True).start()
    return conn


def _map_under_wm(conn: Any, window: Any) -> None:
    """Map the desktop window as soon as a window manager announces itself (or after the X ready
    timeout without one)."""
    check = conn.intern_atom("_NET_SUPPORTING_WM_CHECK")
    root = conn.screen().root
    deadline = time.monotonic() + X_READY_TIMEOUT_S
    while time.monotonic() < deadline and root.get_full_property(check, 0) is None:
        time.sleep(0.02)
    window.map()
    conn.sync()


@dataclass
class Child:
    name: str
    spawn: Callable[[], subprocess.Popen[bytes]]
    restarts: int = 0
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.spawn()


@dataclass
class Supervisor:
    width: int
    height: int
    children: dict[int, Child] = field(default_factory=dict)
    stopping: bool = False
    desktop: object = None  # the X connection that holds the desktop window (it lives as long)

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, "DISPLAY": f":{DISPLAY_NUM}", **extra}

    def desktop_env(self, **extra: str) -> dict[str, str]:
        """The desktop's own programs use GIO's local VFS: activating gvfs (for the applications'
        trash:///) would hold up the panel's first paint by seconds."""
        return self.env(GIO_USE_VFS="local", **extra)

    def launch(self, child: Child) -> None:
        child.start()
        assert child.proc is not None
        self.children[child.proc.pid] = child

    def spawn_executor(self, ready_fd: int | None) -> subprocess.Popen[bytes]:
        extra = {"NIGHTSHIFT_X_READY_FD": str(ready_fd)} if ready_fd is not None else {}
        env = self.env(**extra)
        if ready_fd is None:
            env.pop("NIGHTSHIFT_X_READY_FD", None)
        fds = (ready_fd,) if ready_fd is not None else ()
        return subprocess.Popen([sys.executable, "-m", "sandbox_image.executor"], env=env, pass_fds=fds)

    def spawn_mutter(self) -> subprocess.Popen[bytes]:
        cmd = ["mutter", "--replace", "--sm-disable", "--x11"]
        return subprocess.Popen(cmd, env=self.desktop_env(XDG_SESSION_TYPE="x11"), stderr=subprocess.DEVNULL)

    def spawn_bus(self) -> subprocess.Popen[bytes]:
        address = os.environ["DBUS_SESSION_BUS_ADDRESS"]
        cmd = ["dbus-daemon", "--session", "--nofork", "--nopidfile", f"--address={address}"]
        return subprocess.Popen(cmd, env=self.env(), stderr=subprocess.DEVNULL)

    def spawn_clipboard(self) -> subprocess.Popen[bytes]:
        cmd = ["parcellite", "--no-icon"]
        out = subprocess.DEVNULL
        return subprocess.Popen(cmd, env=self.desktop_env(), stdout=out, stderr=out)

    def spawn_panel(self) -> subprocess.Popen[bytes]:
        cmd = ["tint2", "-c", PANEL_CONFIG]
        return subprocess.Popen(cmd, env=self.desktop_env(), stderr=subprocess.DEVNULL)

    def start(self) -> None:
        clear_stale_lock(DISPLAY_NUM)
        make_socket_dir()
        with contextlib.suppress(OSError):
            seed_home()
        os.environ["DBUS_SESSION_BUS_ADDRESS"] = session_bus_address()
        self.launch(Child("dbus", self.spawn_bus))
        x_read, x_write = os.pipe()
        relay_read, relay_write = os.pipe()
        xvfb = subprocess.Popen(xvfb_command(self.width, self.height, x_write), pass_fds=(x_write,))
        self.children[xvfb.pid] = Child("xvfb", lambda: xvfb, proc=xvfb, restarts=MAX_RESTARTS)
        os.close(x_write)
        self.launch(Child("executor", lambda: self.spawn_executor(relay_read)))
        os.close(relay_read)
        if not wait_for_display(x_read, X_READY_TIMEOUT_S):
            raise SystemExit("start: Xvfb did not become ready")
        # If the executor died before reading, its restart connects without waiting.
        with contextlib.suppress(BrokenPipeError):
            os.write(relay_write, f"{DISPLAY_NUM}\n".encode())
        os.close(relay_write)
        from sandbox_image.executor.desktop import DESKTOP_COLOUR

        self.desktop = plain_desktop(self.width, self.height, DESKTOP_COLOUR)
        self.launch(Child("mutter", self.spawn_mutter))
        self.launch(Child("panel", self.spawn_panel))
        self.launch(Child("clipboard", self.spawn_clipboard))

    def on_exit(self, pid: int, status: int) -> int | None:
        """Handle one reaped child; return an exit code when the whole desktop must stop."""
        child = self.children.pop(pid, None)
        if child is None or self.stopping:
            return None
        code = os.waitstatus_to_exitcode(status)
        if child.name == "executor" and code == 0:
            return 0
        if child.name == "xvfb" or child.restarts >= MAX_RESTARTS:
            print(f"start: {child.name} exited with {code}; stopping", file=sys.stderr)
            return 1
        child.restarts += 1
        if child.name == "executor":
            child.spawn = lambda: self.spawn_executor(None)
        self.launch(child)
        return None

    def stop(self) -> None:
        self.stopping = True
        for child in list(self.children.values()):
            if child.proc is not None and child.proc.poll() is None:
                child.proc.terminate()
        deadline = time.monotonic() + 3.0
        for child in list(self.children.values()):
            if child.proc is not None:
                try:
                    child.proc.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.proc.kill()

    def run(self) -> int:
        while True:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                return 1
            code = self.on_exit(pid, status)
            if code is not None:
                return code


def main() -> None:
    width, height = screen_size()
    supervisor = Supervisor(width, height)

    def on_term(signum: int, _frame: object) -> None:
        supervisor.stop()
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    try:
        supervisor.start()
        code = supervisor.run()
    finally:
        supervisor.stop()
    raise SystemExit(code)


if __name__ == "__main__":
    main()
