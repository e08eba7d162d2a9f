"""Soak and recovery (not a test), run by ``bench/fleet.py --soak N``: N short script runs through a
real fleet (redis-server, a Celery worker, beat for the reaper) with a short record retention, then
Redis memory before, at its peak and after the retention; and the recovery time after killing a
worker's pool child (Celery redelivers) and after killing the whole worker (only the reaper sees it).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from core.records import Records
from core.states import TERMINAL

SHORT = [{"name": "computer", "input": {"action": "screenshot"}},
         {"name": "bash", "input": {"command": "echo hi"}}]
SLOW = [{"name": "computer", "input": {"action": "screenshot"}},
        {"name": "bash", "input": {"command": "sleep 30 && echo slept"}}]


def task_file(path: Path, runs: int, steps: list[dict[str, Any]]) -> Path:
    import json

    tasks = [{"name": f"soak-{i:04d}", "agent": "script", "budgets": {"max_steps": 5, "max_wall_s": 600},
              "steps": steps} for i in range(runs)]
    path.write_text(json.dumps({"tasks": tasks}))
    return path


def memory_mb(client: redis.Redis) -> float:
    return float(client.info("memory")["used_memory"]) / 2**20  # type: ignore[index]


def wait(predicate: Callable[[], Any], timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.1)
    raise TimeoutError("waited too long")


def soak(client: redis.Redis, enqueue: list[str], env: dict[str, str], tmp: Path, runs: int) -> None:
    records = Records(client)
    before = memory_mb(client)
    done = subprocess.run([*enqueue, str(task_file(tmp / "soak.json", runs, SHORT))], env=env,
                          capture_output=True, text=True, check=True)
    run_ids, seen, peak, began = done.stdout.split(), {}, before, time.time()
    while len(seen) < len(run_ids):
        for run_id in run_ids:
            if run_id not in seen and ((r := records.find(run_id)) is None or r.state in TERMINAL):
                seen[run_id] = "expired" if r is None else str(r.state)
        peak = max(peak, memory_mb(client))
        time.sleep(1)
    wall_s = time.time() - began
    retention_s = float(env["NIGHTSHIFT_RECORD_RETENTION_S"])
    time.sleep(retention_s + 2 * float(env["NIGHTSHIFT_REAPER_INTERVAL_S"]) + 5)
    after = memory_mb(client)
    states = {s: list(seen.values()).count(s) for s in set(seen.values())}
    print(f"soak: {runs} runs x {len(SHORT)} steps in {wall_s:.0f} s ({runs / wall_s * 3600:.0f}/h); "
          f"states {states}")
    print(f"redis used_memory: before {before:.2f} MiB, peak {peak:.2f} MiB, after retention "
          f"({retention_s:.0f} s) {after:.2f} MiB; runs index {client.zcard('ns:runs')} ids left")


def recovery(client: redis.Redis, enqueue: list[str], env: dict[str, str], tmp: Path,
             worker: subprocess.Popen[bytes], restart: Callable[[], subprocess.Popen[bytes]]) -> None:
    records = Records(client)
    for how in ("pool child", "whole worker"):
        done = subprocess.run([*enqueue, str(task_file(tmp / "slow.json", 1, SLOW))], env=env,
                              capture_output=True, text=True, check=True)
        (run_id,) = done.stdout.split()
        wait(lambda r=run_id: records.get(r).steps >= 1, 120)
        killed = time.monotonic()
        if how == "pool child":
            for child in Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split():
                os.kill(int(child), signal.SIGKILL)
        else:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
            worker = restart()
        wait(lambda r=run_id: records.get(r).attempt >= 2, 600)
        resumed_s = time.monotonic() - killed
        wait(lambda r=run_id: records.get(r).state in TERMINAL, 600)
        print(f"recovery after killing the {how}: attempt 2 started after {resumed_s:.1f} s; "
              f"run {records.get(run_id).state}")
    sys.stdout.flush()


def _process(bin_dir: Path, env: dict[str, str], tmp: Path, kind: str = "worker") -> subprocess.Popen[bytes]:
    extra = ["-Q", "bench", "--without-gossip", "--without-mingle", "-O", "fair"] if kind == "worker" else \
        ["--schedule", str(tmp / "beat-schedule")]
    command = [str(bin_dir / "celery"), "-A", "workers.main", kind, *extra, "--loglevel", "WARNING"]
    log = open(tmp / f"{kind}.log", "ab")  # noqa: SIM115 - lives as long as the process
    root = Path(__file__).resolve().parents[1]
    return subprocess.Popen(command, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def run_soak(runs: int, env: dict[str, str], tmp: Path, bin_dir: Path,
             redis_proc: subprocess.Popen[bytes]) -> None:
    """``bench/fleet.py --soak N``: a worker and beat, the soak, then the recovery times."""
    procs = [_process(bin_dir, env, tmp), _process(bin_dir, env, tmp, "beat")]
    try:
        time.sleep(3)
        client = redis.Redis.from_url(env["NIGHTSHIFT_REDIS_URL"])
        enqueue = [str(bin_dir / "nightshift"), "enqueue"]
        soak(client, enqueue, env, tmp, runs)

        def restart() -> subprocess.Popen[bytes]:
            procs.append(_process(bin_dir, env, tmp))
            return procs[-1]

        recovery(client, enqueue, env, tmp, procs[0], restart)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(timeout=60)
        redis_proc.terminate()
        shutil.rmtree(tmp, ignore_errors=True)
