"""Fleet benchmark (not a test): N script runs of 10 steps each through the real fleet on this
machine — real redis-server, a real Celery worker with C concurrent sandboxes, real containers,
the local artifact store. Prints wall time, runs/hour, enqueue -> first step latency (median,
p95) and fleet overhead per step (step time minus the executor's own time).

    .venv/bin/python bench/fleet.py [--runs 100] [--concurrency 4] [--idle-runs 10] [--pool 2]
    .venv/bin/python bench/fleet.py --soak 1000   # Redis memory over 1,000 runs, recovery times

The idle figure is printed twice in one run: cold (a worker with the warm pool off) and warm (a
worker keeping ``--pool`` ready sandboxes; each run enqueued once the pool is full again).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import events, keys  # noqa: E402
from core.events import EventType  # noqa: E402
from core.records import Records  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.states import TERMINAL  # noqa: E402
from workers.sandbox.pool import default_shape  # noqa: E402

STEPS = [
    {"name": "computer", "input": {"action": "screenshot"}},
    {"name": "computer", "input": {"action": "mouse_move", "coordinate": [300, 300]}},
    {"name": "bash", "input": {"command": "echo hi"}},
    {"name": "computer", "input": {"action": "left_click", "coordinate": [512, 384]}},
    {"name": "str_replace_based_edit_tool",
     "input": {"command": "create", "path": "/tmp/b.txt", "file_text": "one\ntwo\n"}},
    {"name": "str_replace_based_edit_tool", "input": {"command": "view", "path": "/tmp/b.txt"}},
    {"name": "computer", "input": {"action": "key", "text": "Escape"}},
    {"name": "bash", "input": {"command": "cat /tmp/b.txt | wc -l"}},
    {"name": "computer", "input": {"action": "cursor_position"}},
    {"name": "computer", "input": {"action": "screenshot"}},
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _task_file(path: Path, runs: int) -> Path:
    tasks = [{"name": f"bench-{i:03d}", "agent": "script", "budgets": {"max_steps": 20, "max_wall_s": 600},
              "steps": STEPS} for i in range(runs)]
    path.write_text(json.dumps({"tasks": tasks}))
    return path


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _step_overheads(run_dir: Path) -> list[float]:
    """Per step: time between consecutive step ends minus what the executor itself spent."""
    lines = [json.loads(line) for line in (run_dir / "transcript.jsonl").read_text().splitlines()]
    ends = [e for e in lines if e["event"] == "step_end"]
    results = {e["step"]: e for e in lines if e["event"] == "tool_result"}
    overheads = []
    for prev, cur in itertools.pairwise(ends):
        executor_ms = sum((results[cur["step"]].get("timings_ms") or {}).values())
        overheads.append((cur["ts"] - prev["ts"]) * 1000 - executor_ms)
    return overheads


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100, help="the batch (0: only the idle figures)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--idle-runs", type=int, default=10, help="runs enqueued one at a time, per mode")
    parser.add_argument("--pool", type=int, default=2, help="warm pool size of the warm mode")
    parser.add_argument("--soak", type=int, default=0, help="instead: N short runs, memory and recovery")
    parser.add_argument("--retention", type=int, default=30, help="record retention in the soak (s)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ns-bench-fleet-"))
    port = _free_port()
    redis_proc = subprocess.Popen(["redis-server", "--port", str(port), "--save", "", "--dir", str(tmp)],
                                  stdout=subprocess.DEVNULL)
    env = {**os.environ, "NIGHTSHIFT_REDIS_URL": f"redis://127.0.0.1:{port}/0",
           "NIGHTSHIFT_ARTIFACTS_DIR": str(tmp / "artifacts"), "NIGHTSHIFT_QUEUE_NAME": "bench",
           "NIGHTSHIFT_SANDBOX_SOCKET_DIR": tempfile.mkdtemp(prefix="nsb-", dir="/tmp"),
           "NIGHTSHIFT_LOG_LEVEL": "WARNING",
           "NIGHTSHIFT_WORKER_CONCURRENCY": str(args.concurrency)}
    if args.soak:
        from bench.soak import run_soak

        env |= {"NIGHTSHIFT_RECORD_RETENTION_S": str(args.retention), "NIGHTSHIFT_REAPER_INTERVAL_S": "10",
                "NIGHTSHIFT_METRICS_PORT": "0", "NIGHTSHIFT_WARM_POOL_SIZE": "0"}
        run_soak(args.soak, env, tmp, Path(sys.executable).parent, redis_proc)
        return
    client = redis.Redis.from_url(env["NIGHTSHIFT_REDIS_URL"])
    try:
        if args.runs:
            with _worker(env | {"NIGHTSHIFT_WARM_POOL_SIZE": str(args.pool)}, tmp):
                began = time.time()
                batch = str(_task_file(tmp / "t.json", args.runs))
                run_ids = _enqueue_and_wait(client, [*_enqueue(), batch], env)
                _report(client, run_ids, time.time() - began, tmp / "artifacts", args)
        for mode, pool in (("cold", 0), ("warm", args.pool)):
            with _worker(env | {"NIGHTSHIFT_WARM_POOL_SIZE": str(pool)}, tmp):
                _idle(client, env, tmp, mode, pool, args.idle_runs)
    finally:
        redis_proc.terminate()
        shutil.rmtree(tmp, ignore_errors=True)


def _enqueue() -> list[str]:
    return [str(Path(sys.executable).parent / "nightshift"), "enqueue"]


@contextlib.contextmanager
def _worker(env: dict[str, str], tmp: Path) -> Iterator[None]:
    """One Celery worker from the venv (its main process keeps the warm pool); stopped with TERM,
    which drains the pool."""
    celery = str(Path(sys.executable).parent / "celery")
    worker = subprocess.Popen([celery, "-A", "workers.main", "worker", "-Q", "bench",
                               "--without-gossip", "--without-mingle", "-O", "fair", "--loglevel", "WARNING"],
                              cwd=ROOT, env=env, stdout=open(tmp / "worker.log", "ab"),  # noqa: SIM115
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(3)  # let the worker connect before the clock starts (bench only)
        yield
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=120)


def _idle(client: redis.Redis, env: dict[str, str], tmp: Path, mode: str, pool: int, runs: int) -> None:
    """Runs enqueued one at a time on an idle fleet (warm: each after the pool is full again)."""
    idle: list[str] = []
    for _ in range(runs):
        if pool:
            _wait_pool_full(client, pool)
        idle += _enqueue_and_wait(client, [*_enqueue(), str(_task_file(tmp / "one.json", 1))], env)
    latencies = _first_step_latencies(client, idle)
    warm = sum(1 for r in idle for e in events.read(client, r)
               if e.type == EventType.SANDBOX and e.data.get("warm"))
    print(f"idle fleet, {mode} (pool {pool}, {warm}/{len(idle)} runs warm), enqueue -> first step: "
          f"median {statistics.median(latencies):.3f} s, p95 {_pct(latencies, 0.95):.3f} s "
          f"(n={len(latencies)})")
    _breakdown(client, idle)


def _wait_pool_full(client: redis.Redis, size: int, timeout_s: float = 120.0) -> None:
    settings = Settings(queue_name="bench")
    key = keys.pool_ready("bench", socket.gethostname(), default_shape(settings).key)
    deadline = time.monotonic() + timeout_s
    while client.llen(key) < size:
        if time.monotonic() > deadline:
            raise SystemExit(f"the warm pool did not fill within {timeout_s:.0f} s")
        time.sleep(0.1)


def _enqueue_and_wait(client: redis.Redis, command: list[str], env: dict[str, str]) -> list[str]:
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    run_ids = done.stdout.split()
    while not all(Records(client).get(r).state in TERMINAL for r in run_ids):
        time.sleep(0.05)
    return run_ids


def _first_step_latencies(client: redis.Redis, run_ids: list[str]) -> list[float]:
    latencies = []
    for run_id in run_ids:
        steps = [e for e in events.read(client, run_id) if e.type == "step"]
        if steps:
            latencies.append(float(steps[0].data["at"]) - Records(client).get(run_id).created_at)
    return latencies


def _breakdown(client: redis.Redis, run_ids: list[str]) -> None:
    """Median seconds spent in each phase before the first step."""
    phases: dict[str, list[float]] = {"queued->starting": [], "starting->running": [], "running->step 1": []}
    for run_id in run_ids:
        history = reversed(events.read(client, run_id))  # the first time each state/step was seen
        at = {e.data.get("state") or e.type: float(e.data["at"]) for e in history}
        phases["queued->starting"].append(at["starting"] - at["queued"])
        phases["starting->running"].append(at["running"] - at["starting"])
        phases["running->step 1"].append(at["step"] - at["running"])
    print("  " + ", ".join(f"{k} {statistics.median(v):.3f} s" for k, v in phases.items()))


def _report(client: redis.Redis, run_ids: list[str], wall_s: float, artifacts: Path,
            args: argparse.Namespace) -> None:
    first_step = _first_step_latencies(client, run_ids)
    overheads: list[float] = []
    for run_id in run_ids:
        for run_dir in (artifacts / "runs" / run_id).glob("attempt-*"):
            overheads += _step_overheads(run_dir)
    ok = [Records(client).get(r).state for r in run_ids].count("succeeded")
    print(f"runs: {len(run_ids)} x {len(STEPS)} steps, concurrency {args.concurrency}; succeeded {ok}")
    print(f"wall time: {wall_s:.1f} s; runs/hour: {len(run_ids) / wall_s * 3600:.0f}")
    print("batch, enqueue -> first step (includes queue wait): "
          f"median {statistics.median(first_step):.3f} s, "
          f"p95 {_pct(first_step, 0.95):.3f} s")
    print(f"fleet overhead per step: median {statistics.median(overheads):.1f} ms, "
          f"p95 {_pct(overheads, 0.95):.1f} ms (n={len(overheads)})")


if __name__ == "__main__":
    main()
