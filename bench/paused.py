"""What N sandboxes waiting for an approval cost the machine: CPU and memory running idle, then
released and frozen with ``docker pause`` (what workers/approval/pause.py does), and how long a resume takes
(unpause, take the sandbox over with ``SandboxLauncher.attach`` as another worker would, first
screenshot).

- CPU: the cgroup's ``cpu_usage.total_usage`` over a window against the host's
  ``system_cpu_usage`` sampled with it, times ``online_cpus`` (``docker stats``' formula), as a share
  of one core;
- memory: cgroup usage minus inactive page cache, as ``docker stats`` shows it (kept while paused:
  the desktop and its applications stay in memory, which is what makes a resume instant).

    .venv/bin/python bench/paused.py [--sandboxes 4] [--window 10] [--busy]

``--busy`` leaves a busy loop running in each sandbox (a page or app that spins while the run
waits): paused, it stops, which is the point of pausing rather than just leaving the run idle.

Needs the image and a Docker engine. Not a test: prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import load_settings
from workers.approval.pause import freeze
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

COMPUTER = {"type": "computer_20250124", "name": "computer"}
BASH = {"type": "bash_20250124", "name": "bash"}
SPIN = "(nohup sh -c 'while :; do :; done' >/dev/null 2>&1 &) ; echo spinning"
MIB = 1024 * 1024


def usage(sandbox: Sandbox) -> tuple[int, int, int, int]:
    """CPU ns used so far, the host's CPU ns at that moment, online CPUs, memory bytes (without
    inactive page cache)."""
    stats: dict[str, Any] = sandbox.container.stats(stream=False)
    cpu, memory = stats["cpu_stats"], stats.get("memory_stats", {})
    inactive = memory.get("stats", {}).get("inactive_file", 0)
    return (int(cpu["cpu_usage"]["total_usage"]), int(cpu.get("system_cpu_usage", 0)),
            int(cpu.get("online_cpus", 1)), int(memory.get("usage", 0)) - int(inactive))


def measure(sandboxes: list[Sandbox], window_s: float) -> tuple[float, float]:
    """Total CPU (% of one core) over the window, and total memory (MiB), of all sandboxes."""
    before = [usage(s) for s in sandboxes]
    time.sleep(window_s)
    after = [usage(s) for s in sandboxes]
    cpu = sum((a[0] - b[0]) / max(a[1] - b[1], 1) * a[2] * 100 for a, b in zip(after, before, strict=True))
    return cpu, sum(a[3] for a in after) / MIB


def resume(launcher: SandboxLauncher, paused: Sandbox) -> tuple[Sandbox, float]:
    """The sandbox taken over after unpausing, and the milliseconds it took to a screenshot."""
    started = time.perf_counter()
    paused.container.unpause()
    sandbox = launcher.attach(paused.container, timeout_s=30)
    sandbox.call(COMPUTER, {"action": "screenshot"})
    return sandbox, (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sandboxes", type=int, default=4)
    parser.add_argument("--window", type=float, default=10.0, help="seconds each measurement lasts")
    parser.add_argument("--busy", action="store_true", help="a busy loop runs in each sandbox")
    args = parser.parse_args()
    settings = load_settings(sandbox_socket_dir=Path(tempfile.mkdtemp(prefix="nsb-", dir="/tmp")))
    launcher = SandboxLauncher(docker.from_env(), settings)
    sandboxes: list[Sandbox] = []
    try:
        for index in range(args.sandboxes):
            sandbox = launcher.start(f"bench-paused-{index}", labels={"nightshift.bench": "paused"})
            sandboxes.append(sandbox)
            sandbox.wait_ready()
            sandbox.call(COMPUTER, {"action": "screenshot"})
            if args.busy:
                sandbox.call(BASH, {"command": SPIN})
        time.sleep(2)  # let the desktops settle after their first screenshot
        cpu_running, mem_running = measure(sandboxes, args.window)
        for sandbox in sandboxes:
            sandbox.release()
            if not freeze(sandbox.container):
                print(f"{sandbox.container_id[:12]}: docker pause did not take")
        cpu_paused, mem_paused = measure(sandboxes, args.window)
        resumed = [resume(launcher, s) for s in sandboxes]
        sandboxes, resumes = [s for s, _ in resumed], [ms for _, ms in resumed]
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    n = args.sandboxes
    print(f"{n} sandboxes{' each spinning a busy loop' if args.busy else ''}, {args.window:.0f} s windows")
    print(f"idle, running: CPU {cpu_running:.2f} % of a core in all ({cpu_running / n:.2f} % each), "
          f"memory {mem_running:.0f} MiB ({mem_running / n:.0f} MiB each)")
    print(f"paused:        CPU {cpu_paused:.3f} % of a core in all, memory {mem_paused:.0f} MiB "
          f"({mem_paused / n:.0f} MiB each)")
    print(f"resume (unpause + attach + screenshot): median {statistics.median(resumes):.0f} ms, "
          f"max {max(resumes):.0f} ms")


if __name__ == "__main__":
    main()
