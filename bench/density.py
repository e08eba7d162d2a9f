"""Density benchmark (not a test): how many active desktops one host carries.

For each N: N real sandboxes start, each opens Firefox ESR on a local page (placed with
``put_file``, no network), then N threads play the same loop at once: a screenshot, a click on the
page's text field (the tool returns the settled screenshot), typing a few words, then a simulated
model think time (``--think-s``, 3 s, jittered +-20 % so the desktops do not march in step).
Printed per N: screenshot and click p50/p95 (worker-side wall time of one ``Sandbox.call``), host
CPU over the active phase (% of all cores, /proc/stat: on a shared machine it includes everyone's
load), CPU per sandbox from its own cgroup (% of one core) while active and while idle (Firefox
open, nobody acting), memory per sandbox (cgroup usage minus inactive page cache, as ``docker
stats``), and at the end the largest N whose screenshot p95 stays at or under ``--p95-ms`` (150).
``--profile`` instead prints the idle CPU of each process in one sandbox with Firefox open.

    .venv/bin/python bench/density.py [--ns 4,8,12,16] [--steps 8] [--think-s 3] [--size 1024x768]
                                      [--cpus 1.0] [--repeat 1]

The machine may be shared: run it several times (``--repeat``) and quote medians.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import load_settings
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

COMPUTER = {"type": "computer_20250124", "name": "computer"}
BASH = {"type": "bash_20250124", "name": "bash"}
PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>density</title>
<style>body{font:16px sans-serif;margin:40px;background:#fff}input{font-size:18px;width:600px;padding:6px}
table{border-collapse:collapse;margin-top:20px}td{border:1px solid #ccc;padding:4px 10px}</style></head>
<body><h1>Order form</h1><p>Type the customer's name and press the button.</p>
<input id="name" autofocus placeholder="Customer name"> <button>Save</button>
<table>{rows}</table></body></html>"""
ROWS = "".join(f"<tr><td>item {i}</td><td>{i * 7 % 100}.00</td><td>in stock</td></tr>" for i in range(12))
FIELD = (300, 352)  # the text field, in screen coordinates at 1024x768
OPEN_FIREFOX = (
    "(setsid firefox-esr --new-instance file:///tmp/page.html >/dev/null 2>&1 &);"
    " for i in $(seq 450); do xdotool search --onlyvisible --name density >/dev/null 2>&1 && break;"
    " sleep 0.2; done; xdotool search --onlyvisible --name density >/dev/null 2>&1"
)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of the whole host, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def sandbox_cpu_s(sandboxes: list[Sandbox]) -> float:
    """CPU seconds the sandboxes' cgroups have used (cgroup v1 cpuacct or v2 cpu.stat)."""
    total = 0.0
    for sandbox in sandboxes:
        v1 = Path(f"/sys/fs/cgroup/cpuacct/docker/{sandbox.container_id}/cpuacct.usage")
        v2 = Path(f"/sys/fs/cgroup/system.slice/docker-{sandbox.container_id}.scope/cpu.stat")
        if v1.exists():
            total += int(v1.read_text()) / 1e9
        elif v2.exists():
            total += int(v2.read_text().split()[1]) / 1e6
    return total


def memory_mib(sandbox: Sandbox) -> float:
    stats = sandbox.container.stats(stream=False)["memory_stats"]
    inner = stats.get("stats", {})
    cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    return float(stats["usage"] - cache) / (1024 * 1024)


def open_desktop(launcher: SandboxLauncher, index: int, size: tuple[int, int]) -> Sandbox:
    sandbox = launcher.start(f"density-{index}", *size)
    try:
        sandbox.wait_ready()
        sandbox.put_file("/tmp/page.html", PAGE.replace("{rows}", ROWS).encode())
        out = sandbox.call(BASH, {"command": OPEN_FIREFOX})
        if out.is_error or out.exit_status not in (0, None):
            raise RuntimeError(f"firefox did not open: {out.text[-300:]}")
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


class Samples:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ms: dict[str, list[float]] = {"screenshot": [], "click": [], "type": []}
        self.errors = 0

    def timed(self, kind: str, sandbox: Sandbox, tool_input: dict[str, Any]) -> None:
        started = time.perf_counter()
        out = sandbox.call(COMPUTER, tool_input)
        elapsed = (time.perf_counter() - started) * 1000
        with self.lock:
            self.ms[kind].append(elapsed)
            self.errors += int(out.is_error)


def play(sandbox: Sandbox, samples: Samples, steps: int, think_s: float, seed: int) -> None:
    rng = random.Random(seed)
    time.sleep(rng.uniform(0, think_s))  # desktops start out of step, as real runs would be
    for step in range(steps):
        samples.timed("screenshot", sandbox, {"action": "screenshot"})
        point = [FIELD[0] + step % 3, FIELD[1]]
        samples.timed("click", sandbox, {"action": "left_click", "coordinate": point})
        samples.timed("type", sandbox, {"action": "type", "text": f"customer {step} "})
        time.sleep(think_s * rng.uniform(0.8, 1.2))


def measure(launcher: SandboxLauncher, n: int, args: argparse.Namespace) -> dict[str, float]:
    sandboxes: list[Sandbox] = []
    try:
        with ThreadPoolExecutor(max_workers=min(n, 4)) as pool:
            futures = [pool.submit(open_desktop, launcher, i, args.size) for i in range(n)]
            failed = _collect(futures, sandboxes)
        if failed is not None:
            raise failed
        time.sleep(args.settle_s / 2)  # let the pages finish loading and the start-up work die down
        idle0, idle_started = sandbox_cpu_s(sandboxes), time.monotonic()
        time.sleep(args.settle_s / 2)
        idle_cpu = (sandbox_cpu_s(sandboxes) - idle0) / (time.monotonic() - idle_started) / n * 100
        samples = Samples()
        busy0, total0 = cpu_ticks()
        active0, active_started = sandbox_cpu_s(sandboxes), time.monotonic()
        threads = [threading.Thread(target=play, args=(s, samples, args.steps, args.think_s, i))
                   for i, s in enumerate(sandboxes)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        busy1, total1 = cpu_ticks()
        active_cpu = (sandbox_cpu_s(sandboxes) - active0) / (time.monotonic() - active_started) / n * 100
        memory = statistics.mean(memory_mib(s) for s in sandboxes)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
    cores = len(Path("/proc/cpuinfo").read_text().split("processor\t")) - 1
    host_cpu = _busy((busy0, total0), (busy1, total1))
    return {"n": n, **{f"{k} p50": statistics.median(v) for k, v in samples.ms.items()},
            **{f"{k} p95": pct(v, 0.95) for k, v in samples.ms.items()},
            "host cpu %": host_cpu, "cpu/sandbox % of a core": active_cpu,
            "idle cpu/sandbox %": idle_cpu, "cores": cores,
            "mem/sandbox MiB": memory, "errors": samples.errors}


def _busy(before: tuple[int, int], after: tuple[int, int]) -> float:
    """Host CPU busy between two /proc/stat readings, in % of all cores."""
    return (after[0] - before[0]) / max(1, after[1] - before[1]) * 100


def _collect(futures: list[Future[Sandbox]], into: list[Sandbox]) -> Exception | None:
    """Every started sandbox into ``into`` (so all are stopped), and the first failure."""
    failed: Exception | None = None
    for future in futures:
        try:
            into.append(future.result())
        except Exception as exc:
            failed = failed or exc
    return failed


PROFILE = r"""
import os, time
def ticks():
    out = {}
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            stat = open(f'/proc/{pid}/stat').read()
        except OSError:
            continue
        name = stat[stat.index('(') + 1:stat.rindex(')')]
        fields = stat[stat.rindex(')') + 2:].split()
        out[(pid, name)] = int(fields[11]) + int(fields[12])
    return out
a = ticks(); time.sleep(SECONDS); b = ticks()
hz = os.sysconf('SC_CLK_TCK')
used = sorted(((b[k] - a.get(k, 0)) / hz / SECONDS * 100, k[1]) for k in b)
for pct, name in reversed(used[-8:]):
    print(f'{pct:6.2f} % {name}')
"""


def profile(launcher: SandboxLauncher, args: argparse.Namespace) -> None:
    """Idle CPU per process (% of one core) in one sandbox with Firefox open on the page."""
    sandbox = open_desktop(launcher, 0, args.size)
    try:
        time.sleep(args.settle_s)
        sandbox.put_file("/tmp/profile.py", PROFILE.replace("SECONDS", "10").encode())
        print(sandbox.call(BASH, {"command": "python3 /tmp/profile.py"}).text)
    finally:
        sandbox.stop()


COLUMNS = ["n", "screenshot p50", "screenshot p95", "click p50", "click p95", "type p50",
           "host cpu %", "cpu/sandbox % of a core", "idle cpu/sandbox %", "mem/sandbox MiB", "errors"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ns", default="4,8,12,16")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--think-s", type=float, default=3.0)
    parser.add_argument("--settle-s", type=float, default=8.0)
    parser.add_argument("--size", default="1024x768", type=lambda s: tuple(int(x) for x in s.split("x")))
    parser.add_argument("--cpus", type=float, default=None, help="sandbox CPU limit (default: settings)")
    parser.add_argument("--p95-ms", type=float, default=150.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="idle CPU per process, one sandbox")
    args = parser.parse_args()
    overrides: dict[str, Any] = {"sandbox_socket_dir": Path("/tmp/nsd"), "sandbox_start_timeout_s": 120.0,
                                 "sandbox_ready_timeout_s": 120.0}
    if args.cpus is not None:
        overrides["sandbox_cpus"] = args.cpus
    settings = load_settings(**overrides)
    launcher = SandboxLauncher(docker.from_env(), settings)
    print(f"image {settings.sandbox_image}, {args.size[0]}x{args.size[1]}, think {args.think_s} s, "
          f"{args.steps} steps per desktop, sandbox cpus {settings.sandbox_cpus}")
    if args.profile:
        profile(launcher, args)
        return
    rows: dict[int, list[dict[str, float]]] = {}
    for _ in range(args.repeat):
        for n in (int(x) for x in args.ns.split(",")):
            row = measure(launcher, n, args)
            rows.setdefault(n, []).append(row)
            print("  ".join(f"{c} {row[c]:.0f}" for c in COLUMNS), flush=True)
    report(rows, args.p95_ms)


def report(rows: dict[int, list[dict[str, float]]], p95_ms: float) -> None:
    print("\nmedians over repeats (ms, %, MiB):")
    print(" | ".join(COLUMNS))
    medians = {n: {c: statistics.median(r[c] for r in runs) for c in COLUMNS} for n, runs in rows.items()}
    for n in sorted(medians):
        print(" | ".join(f"{medians[n][c]:.0f}" for c in COLUMNS))
    fits = [n for n, m in medians.items() if m["screenshot p95"] <= p95_ms]
    print(f"largest N with screenshot p95 <= {p95_ms:.0f} ms: {max(fits) if fits else 'none'}")


if __name__ == "__main__":
    main()
