"""Many machines, proven: deploy/docker-compose.yml run for real on two worker hosts, each with its
own Docker engine, sharing one Redis (the hub) and one S3 (Ceph RGW).

Runs spread over both hosts and land in S3; each host's reaper clears its own engine's sandboxes;
a host killed mid-batch (its engine, worker and sandboxes gone at once) has its runs resumed on
the other host with nothing lost and nothing run twice.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from core import labels as label
from tests.deploy.conftest import Deployment
from tests.deploy.hosts import WorkerHost
from workers.artifacts.attempt import verify

pytestmark = [pytest.mark.docker, pytest.mark.s3, pytest.mark.timeout(900)]

SCRIPT_RUN = """
  - name: {name}
    agent: script
    budgets: {{max_steps: 10, max_wall_s: 300}}
    steps:
      - {{name: computer, input: {{action: screenshot}}}}
      - {{name: bash, input: {{command: "sleep {sleep_s} && echo slept on $(hostname)"}}}}
      - {{name: bash, input: {{command: "echo done"}}}}
"""


def batch(prefix: str, count: int, sleep_s: int) -> str:
    return "tasks:" + "".join(SCRIPT_RUN.format(name=f"{prefix}{i}", sleep_s=sleep_s) for i in range(count))


def engines_of(deployment: Deployment, seen: dict[str, set[str]]) -> None:
    """Note which host's engine holds which sandbox (what `docker ps` shows on each)."""
    for name, host in deployment.hosts.items():
        for sandbox in host.sandboxes():
            seen.setdefault(sandbox["id"], set()).add(name)


def runs_sandboxes(host: WorkerHost, claimed: set[str]) -> list[dict[str, str]]:
    """The host's sandboxes that belong to runs: started for one, or claimed from the warm pool
    (a pooled one carries its run in Redis, not in its labels). Unclaimed pooled ones are the
    host's stock, not a run's leftovers."""
    return [s for s in host.sandboxes() if not s[label.POOL] or s["id"] in claimed]


def test_a_batch_spreads_over_both_hosts_and_every_run_lands_in_s3(
    deployment: Deployment, tmp_path: Path
) -> None:
    run_ids = deployment.enqueue(batch("spread", 8, sleep_s=3), tmp_path)
    engines: dict[str, set[str]] = {}

    def finished() -> bool:
        engines_of(deployment, engines)
        return all(deployment.get(r).state in {"succeeded", "failed"} for r in run_ids)

    deployment.wait_for(finished, 300, "the batch")
    records = [deployment.get(r) for r in run_ids]

    assert [r.state for r in records] == ["succeeded"] * len(run_ids)
    assert {r.worker for r in records} == set(deployment.hosts)  # both hosts took runs
    claimed: set[str] = set()
    for record in records:
        # the record names the host whose engine ran the run's sandbox, and no other engine did
        (sandbox,) = deployment.containers(record.run_id)
        assert engines.get(sandbox, {record.worker}) == {record.worker}
        assert record.attempt == 1
        assert record.artifact_prefix and verify(deployment.store, record.artifact_prefix) == []
        claimed.add(sandbox)
    # each host's runs removed their sandboxes: no engine holds one of a run (warm stock may)
    for host in deployment.hosts.values():
        deployment.wait_for(lambda h=host: runs_sandboxes(h, claimed) == [], 60,
                            f"{host.name}'s sandboxes to go")


def test_a_host_killed_mid_batch_has_its_runs_resumed_on_the_other_once_each(
    deployment: Deployment, tmp_path: Path
) -> None:
    survivor, doomed = deployment.hosts["host-a"], deployment.hosts["host-b"]
    run_ids = deployment.enqueue(batch("kill", 6, sleep_s=10), tmp_path)

    def in_sleep_step_on(host: str) -> list[str]:
        records = [deployment.get(r) for r in run_ids]
        return [r.run_id for r in records if r.worker == host and r.state == "running" and r.steps >= 1]

    # both of its slots busy, so it holds no delivered-but-unstarted run (prefetch 1, -O fair)
    victims = deployment.wait_for(lambda: len(busy := in_sleep_step_on(doomed.name)) == 2 and busy,
                                  240, f"two runs in their sleep step on {doomed.name}")
    doomed.kill()
    killed_at = time.monotonic()

    def since_kill(done: bool) -> float | None:
        return time.monotonic() - killed_at if done else None

    resent_s = deployment.wait_for(lambda: since_kill(all(deployment.resumed(r) for r in victims)),
                                   120, "the reaper to re-send the dead host's runs")
    restarted_s = deployment.wait_for(
        lambda: since_kill(all(deployment.get(r).attempt == 2 for r in victims)),
        120, "the dead host's runs to start again")
    records = deployment.wait_done(run_ids, 300)
    deployment.timings.update(resent_after_kill_s=resent_s, restarted_after_kill_s=restarted_s,
                              batch_done_after_kill_s=time.monotonic() - killed_at)

    assert [r.state for r in records] == ["succeeded"] * len(run_ids)
    for record in records:
        moved = record.run_id in victims
        assert record.attempt == (2 if moved else 1)
        if moved:
            assert record.worker == survivor.name
        assert len(deployment.terminal_events(record.run_id)) == 1  # finished once
        # in S3: the dead attempt's partial objects stay, and exactly one attempt has a result
        attempts = deployment.attempts_in_s3(record.run_id)
        assert attempts == ({1: None, 2: "succeeded"} if moved else {1: "succeeded"})
        assert verify(deployment.store, record.artifact_prefix or "") == []
    assert all(s[label.WORKER] == survivor.name for s in survivor.sandboxes())

    # the machine comes back: its worker restarts and reaps the dead attempts' sandboxes, on its
    # own engine (the survivor never saw them)
    sandboxes = {c: (r, n) for r in run_ids for c, n in deployment.containers(r).items()}
    doomed.restart()
    left = runs_sandboxes(doomed, set(sandboxes))
    assert {sandboxes[s["id"]] for s in left} <= {(r, 1) for r in victims}
    assert all(s[label.WORKER] == doomed.name for s in left)
    deployment.wait_for(lambda: runs_sandboxes(doomed, set(sandboxes)) == [], 120,
                        f"{doomed.name} to reap its dead sandboxes")
    print(f"\nmany machines: {deployment.timings}")
