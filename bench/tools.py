"""Tool-call latency and sandbox memory, ours against the reference's method, on real sandboxes.

Medians over repeated runs, per screen size:

- start -> first screenshot: ``SandboxLauncher.start`` + a ``screenshot`` call, fresh container each;
- screenshot; left_click -> settled screenshot on a static screen; type 200 characters; bash ``echo hi``
  (worker-side wall time of one ``Sandbox.call``, channel already open);
- the reference's click in the same container: ``xdotool mousemove --sync X Y click 1`` as a process,
  ``sleep 2.0``, ``scrot -p``, ``convert -resize WxH!``, base64 — run as one bash tool call; also
  without the sleep, to show the process overheads alone. Its clicks alternate between two points
  (``mousemove --sync`` stalls ~15 s when the pointer is already there); ours click one point (a
  click elsewhere within 0.3 s of the last one waits out the toolkits' double-click time);
- memory of one idle sandbox and with Firefox open (cgroup usage minus inactive page cache, as
  ``docker stats`` shows it).

- each application's cold start (``--apps``): a fresh sandbox per start (a fresh home, as every run
  gets), the ``launch`` setup step (workers/setup.py) from the call to its window being mapped, and
  on to a screen that has not changed for 0.5 s (painted).

    .venv/bin/python bench/tools.py [--runs 15] [--starts 7] [--sizes 1024x768,1280x800] [--no-firefox]
    .venv/bin/python bench/tools.py --apps [--app-starts 3]

Needs the image (``make image``) and a Docker engine. Not a test: prints figures, asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import load_settings
from core.setup_steps import SetupStep
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox
from workers.setup import run_step

COMPUTER = {"type": "computer_20250124", "name": "computer"}
BASH = {"type": "bash_20250124", "name": "bash"}
REFERENCE_LABEL = "reference click (xdotool + sleep 2.0 + scrot + convert)"
TYPED = ("The quick brown fox jumps over the lazy dog. " * 5)[:200]
REFERENCE_CLICK = (
    "mkdir -p /tmp/outputs && f=/tmp/outputs/screenshot_$RANDOM$RANDOM.png"
    " && xdotool mousemove --sync {x} {y} click 1 && sleep {sleep}"
    " && scrot -p -o $f && convert $f -resize {w}x{h}! $f && base64 $f > /dev/null"
)


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def checked(output: Any) -> Any:
    if output.is_error:
        raise RuntimeError(output.text)
    return output


def start_to_first_screenshot(launcher: SandboxLauncher, size: tuple[int, int], runs: int) -> float:
    samples = []
    for i in range(runs):
        started = time.perf_counter()
        sandbox = launcher.start(f"bench-start-{i}", *size)
        try:
            checked(sandbox.call(COMPUTER, {"action": "screenshot"}))
            samples.append((time.perf_counter() - started) * 1000)
        finally:
            sandbox.stop()
    return statistics.median(samples)


def memory_mib(sandbox: Sandbox) -> float:
    stats = sandbox.container.stats(stream=False)["memory_stats"]
    inner = stats.get("stats", {})
    cache = inner.get("total_inactive_file", inner.get("inactive_file", 0))
    return float(stats["usage"] - cache) / (1024 * 1024)


def firefox_memory(sandbox: Sandbox) -> float:
    script = (
        "(setsid firefox-esr about:blank >/dev/null 2>&1 &);"
        " xdotool search --sync --onlyvisible --class firefox"
    )
    checked(sandbox.call(BASH, {"command": f"timeout 60 sh -c '{script}' >/dev/null"}))
    time.sleep(5.0)  # let it finish starting its content processes
    return memory_mib(sandbox)


class Alternating:
    """Two nearby points taken in turn, so every click really moves the pointer (xdotool's
    ``mousemove --sync`` waits ~15 s when the pointer is already there)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.points = [(size[0] // 2, size[1] // 3), (size[0] // 2 + 40, size[1] // 3)]
        self.turn = 0

    def next(self) -> tuple[int, int]:
        self.turn += 1
        return self.points[self.turn % 2]


def reference_click(sandbox: Sandbox, size: tuple[int, int], points: Alternating, sleep: str) -> None:
    x, y = points.next()
    command = REFERENCE_CLICK.format(x=x, y=y, sleep=sleep, w=size[0], h=size[1])
    checked(sandbox.call(BASH, {"command": command}))


def measure_calls(sandbox: Sandbox, size: tuple[int, int], runs: int) -> dict[str, float]:
    points, call = Alternating(size), sandbox.call
    few = max(3, runs // 5)
    return {
        "screenshot": median_ms(lambda: checked(call(COMPUTER, {"action": "screenshot"})), runs),
        "left_click -> settled screenshot": median_ms(
            lambda: checked(call(COMPUTER, {"action": "left_click", "coordinate": list(points.points[0])})),
            runs,
        ),
        "type 200 characters (+ screenshot)": median_ms(
            lambda: checked(call(COMPUTER, {"action": "type", "text": TYPED})), few
        ),
        "bash echo hi": median_ms(lambda: checked(call(BASH, {"command": "echo hi"})), runs),
        REFERENCE_LABEL: median_ms(lambda: reference_click(sandbox, size, points, "2.0"), few),
        "reference click without its 2.0 s sleep": median_ms(
            lambda: reference_click(sandbox, size, points, "0"), few
        ),
    }


def bench_size(
    launcher: SandboxLauncher, size: tuple[int, int], args: argparse.Namespace
) -> dict[str, float]:
    results = {"start -> first screenshot": start_to_first_screenshot(launcher, size, args.starts)}
    sandbox = launcher.start("bench-calls", *size)
    try:
        sandbox.wait_ready()
        checked(sandbox.call(COMPUTER, {"action": "screenshot"}))  # warm up imports and XShm
        results |= measure_calls(sandbox, size, args.runs)
        results["memory idle (MiB)"] = memory_mib(sandbox)
        if not args.no_firefox:
            results["memory with Firefox open (MiB)"] = firefox_memory(sandbox)
    finally:
        sandbox.stop()
    return results


def report(size: tuple[int, int], results: dict[str, float]) -> None:
    print(f"\n{size[0]}x{size[1]}")
    for label, value in results.items():
        unit = "" if "MiB" in label else " ms"
        print(f"  {label:<58} {value:9.2f}{unit}")
    ours = results["left_click -> settled screenshot"]
    ref = results[REFERENCE_LABEL]
    print(f"  {'click speed-up over the reference':<58} {ref / ours:9.1f}x")


APPS = {
    "LibreOffice Writer": ("libreoffice --writer", "LibreOffice Writer"),
    "LibreOffice Calc": ("libreoffice --calc", "LibreOffice Calc"),
    "LibreOffice Impress": ("libreoffice --impress", "LibreOffice Impress"),
    "Firefox ESR (about:blank)": ("firefox-esr about:blank", "Firefox"),
    "file manager (pcmanfm)": ("pcmanfm /home/user", "^user$"),
    "terminal (xterm)": ("xterm -T bench-term", "^bench-term$"),
    "text editor (mousepad)": ("mousepad", "Mousepad"),
}


def settled_ms(sandbox: Sandbox, started: float, quiet_s: float = 0.5, timeout_s: float = 60) -> float:
    """Milliseconds from ``started`` until the screen last changed before a ``quiet_s`` stillness."""
    last, changed = checked(sandbox.call(COMPUTER, {"action": "screenshot"})).image, time.monotonic()
    while time.monotonic() - changed < quiet_s and time.monotonic() - started < timeout_s:
        image = checked(sandbox.call(COMPUTER, {"action": "screenshot"})).image
        if image != last:
            last, changed = image, time.monotonic()
    return (changed - started) * 1000


def app_cold_start(launcher: SandboxLauncher, command: str, title: str) -> tuple[float, float]:
    sandbox = launcher.start("bench-apps", 1024, 768)
    try:
        sandbox.wait_ready()
        step = SetupStep.model_validate({"launch": {"command": command, "wait_for_window": title}})
        started = time.monotonic()
        report = run_step(sandbox, 1, step, BASH["type"])
        if not report.ok:
            raise SystemExit(f"{command}: {report.output}")
        return report.duration_ms, settled_ms(sandbox, started)
    finally:
        sandbox.stop()


def bench_apps(launcher: SandboxLauncher, starts: int) -> None:
    print(f"\ncold start, fresh sandbox each, median of {starts}: window mapped / screen settled")
    for name, (command, title) in APPS.items():
        runs = [app_cold_start(launcher, command, title) for _ in range(starts)]
        mapped = statistics.median(r[0] for r in runs)
        settled = statistics.median(r[1] for r in runs)
        print(f"  {name:<30} {mapped:8.0f} ms {settled:8.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--starts", type=int, default=7)
    parser.add_argument("--sizes", default="1024x768,1280x800")
    parser.add_argument("--no-firefox", action="store_true")
    parser.add_argument("--apps", action="store_true", help="each application's cold start instead")
    parser.add_argument("--app-starts", type=int, default=3)
    args = parser.parse_args()
    client = docker.from_env()
    with tempfile.TemporaryDirectory(prefix="ns-bench-") as sockets:
        launcher = SandboxLauncher(client, load_settings(sandbox_socket_dir=Path(sockets)))
        if args.apps:
            bench_apps(launcher, args.app_starts)
            return
        for spec in args.sizes.split(","):
            width, height = (int(v) for v in spec.split("x"))
            report((width, height), bench_size(launcher, (width, height), args))
    client.close()


if __name__ == "__main__":
    main()
