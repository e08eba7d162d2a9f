"""The warm pool (workers/sandbox/pool.py, pool_keeper.py, workers/fleet/pool_reaper.py) against a
real Docker engine, real sandboxes and a real redis-server: the claim is atomic, the keeper refills
and recycles, secrets reach the shells but never the container's environment, and the reaper
removes pooled sandboxes whose keeper or run is gone."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from core import keys
from core import labels as label
from core.errors import SandboxError
from core.events import EventType
from tests.conftest import RedisServer
from tests.workers.conftest import MakeRuntime, assert_ended_clean, new_run, result_of, script, wait_for
from workers.fleet.pool_reaper import reap_pool
from workers.runner import execute_run
from workers.runtime import Runtime
from workers.sandbox.pool import Claimer, Shape, claim_of, default_shape, ready_entries
from workers.sandbox.pool_keeper import PoolKeeper
from workers.sandbox.sandbox import Sandbox

pytestmark = pytest.mark.docker
BASH = {"type": "bash_20250124", "name": "bash"}
SCREENSHOT = ({"type": "computer_20250124", "name": "computer"}, {"action": "screenshot"})


@pytest.fixture
def keepers() -> Iterator[list[PoolKeeper]]:
    made: list[PoolKeeper] = []
    yield made
    for keeper in made:
        keeper.stop(drain=True)


def keeper_for(rt: Runtime, keepers: list[PoolKeeper]) -> PoolKeeper:
    keeper = PoolKeeper(rt.launcher, rt.redis, rt.settings, rt.hostname)
    keepers.append(keeper)
    return keeper


def shape_of(rt: Runtime) -> Shape:
    return default_shape(rt.settings)


def ready_ids(rt: Runtime, shape: Shape) -> list[str]:
    return [e.container_id for e in ready_entries(rt.redis, rt.settings.queue_name, rt.hostname, shape)]


def run_claim(run_id: str = "run-x", attempt: int = 1, deadline_in_s: float = 3600) -> dict[str, Any]:
    return {"run_id": run_id, "attempt": attempt, "deadline": int(time.time() + deadline_in_s)}


def sleeping_in(rt: Runtime, container_id: str) -> bool:
    """Whether the pooled container runs the script's ``sleep 593`` (it has no run id label)."""
    try:
        processes = rt.docker.containers.get(container_id).top().get("Processes") or []
    except Exception:  # not running (any more)
        return False
    return any("sleep 593" in " ".join(process) for process in processes)


def exists(rt: Runtime, container_id: str) -> bool:
    return any(c.id == container_id for c in rt.docker.containers.list(all=True))


def test_two_concurrent_claimers_never_get_the_same_sandbox(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    [pooled] = ready_ids(rt, shape_of(rt))
    barrier, got = threading.Barrier(2), []

    def claimer(n: int) -> None:
        mine = Claimer(rt.redis, rt.launcher, rt.hostname)
        barrier.wait()
        got.append((n, mine.claim(shape_of(rt), run_claim(f"run-{n}"))))

    threads = [threading.Thread(target=claimer, args=(n,)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    winners = [(n, s) for n, s in got if s is not None]
    assert len(got) == 2 and len(winners) == 1
    n, sandbox = winners[0]
    try:
        assert sandbox.container_id == pooled
        assert claim_of(rt.redis, pooled)["run_id"] == f"run-{n}"  # type: ignore[index]
        assert ready_ids(rt, shape_of(rt)) == []
        assert not sandbox.call(*SCREENSHOT).is_error  # connected and usable, desktop up
        stats = rt.redis.hgetall(keys.pool_stats(rt.settings.queue_name, rt.hostname))
        assert (stats[b"claimed"], stats[b"cold"]) == (b"1", b"1")
    finally:
        sandbox.stop()


def test_the_keeper_refills_after_a_claim_with_a_fresh_sandbox(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1, warm_pool_interval_s=30.0)  # only the claim's wake-up refills
    keeper = keeper_for(rt, keepers)
    keeper.start()
    first = wait_for(lambda: ready_ids(rt, shape_of(rt)), 90, "the pool to fill")[0]
    sandbox = Claimer(rt.redis, rt.launcher, rt.hostname).claim(shape_of(rt), run_claim())
    assert sandbox is not None and sandbox.container_id == first
    try:
        refilled = wait_for(lambda: ready_ids(rt, shape_of(rt)), 90, "the refill")
        assert refilled != [first]  # never reused: a new container
        assert exists(rt, first)  # the claimed one is the run's, left alone
    finally:
        sandbox.stop()


def test_the_pool_never_outgrows_the_hosts_free_slots(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=2, worker_concurrency=1)
    keeper = keeper_for(rt, keepers)
    assert keeper.pass_once() == 1  # one slot: one warm sandbox, not two
    sandbox = Claimer(rt.redis, rt.launcher, rt.hostname).claim(shape_of(rt), run_claim())
    assert sandbox is not None
    try:
        assert keeper.busy() == 1
        assert keeper.pass_once() == 0  # the slot is taken by the run: nothing to keep warm
    finally:
        sandbox.stop()
    assert keeper.pass_once() == 1


def test_size_zero_disables_the_pool(make_runtime: MakeRuntime, keepers: list[PoolKeeper]) -> None:
    rt = make_runtime(warm_pool_size=0)
    keeper = keeper_for(rt, keepers)
    assert keeper.pass_once() == 0 and keeper.shapes() == []
    assert Claimer(rt.redis, rt.launcher, rt.hostname).claim(shape_of(rt), run_claim()) is None


def test_idle_sandboxes_are_recycled_after_the_ttl(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1, warm_pool_ttl_s=2.0)
    keeper = keeper_for(rt, keepers)
    keeper.pass_once()
    [entry] = ready_entries(rt.redis, rt.settings.queue_name, rt.hostname, shape_of(rt))
    old = entry.container_id
    assert float(rt.docker.containers.get(old).labels[label.IDLE_UNTIL]) <= entry.started_at + 2.0
    wait_for(lambda: time.time() > entry.started_at + 2.0, 10, "the TTL")
    keeper.pass_once()
    [new] = ready_ids(rt, shape_of(rt))
    assert new != old and not exists(rt, old)
    assert rt.redis.hget(keys.pool_stats(rt.settings.queue_name, rt.hostname), "recycled") == b"1"


def test_secrets_reach_the_shell_but_not_the_containers_environment(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    sandbox = Claimer(rt.redis, rt.launcher, rt.hostname).claim(shape_of(rt), run_claim())
    assert sandbox is not None
    secret = "s3cr3t-" + "x" * 20
    try:
        assert sandbox.call(BASH, {"command": "echo before"}).text == "before"  # a shell from before
        sandbox.set_env({"NS_TOKEN": secret})
        assert sandbox.call(BASH, {"command": 'printf %s "$NS_TOKEN"'}).text == secret
        assert sandbox.exec('test "$NS_TOKEN" = ' + secret, 30, 1000)["exit_code"] == 0  # checks too
        inspected = json.dumps(rt.docker.api.inspect_container(sandbox.container_id))
        assert secret not in inspected
        logs = sandbox.container.logs().decode(errors="replace")
        assert secret not in logs
        with pytest.raises(SandboxError, match="PATH"):
            sandbox.set_env({"PATH": "/evil"})
    finally:
        sandbox.stop()


def test_a_run_claims_a_warm_sandbox_and_its_secrets_reach_its_checks(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    [pooled] = ready_ids(rt, shape_of(rt))
    monkeypatch.setenv("NS_POOL_TOKEN", "tok-123456789")
    spec = script("echo hi", secrets=["NS_POOL_TOKEN"],
                  checks=[{"name": "secret", "run": 'test "$NS_POOL_TOKEN" = tok-123456789'}])
    run_id = new_run(rt, spec)

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.container_id) == ("succeeded", pooled)
    assert result_of(rt, run_id, 1)["verdict"] == "passed"
    sandbox_events = [e for e in rt.records.events(run_id) if e["type"] == EventType.SANDBOX]
    assert [e["warm"] for e in sandbox_events] == [True]
    assert_ended_clean(rt, run_id, 1)
    assert not exists(rt, pooled)  # used once, then removed like a cold one


def test_a_pooled_sandbox_is_reaped_when_its_keeper_is_gone(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper = keeper_for(rt, keepers)
    keeper.pass_once()
    [pooled] = ready_ids(rt, shape_of(rt))
    assert reap_pool(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 0  # kept: leave it

    rt.redis.delete(keys.pool_owner(keeper.owner))  # the worker died: its heartbeat expired

    assert reap_pool(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 1
    assert not exists(rt, pooled) and ready_ids(rt, shape_of(rt)) == []


def test_a_claimed_sandbox_is_reaped_once_its_run_is_over_and_kept_while_it_runs(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    run_id = new_run(rt, script("echo x"))
    rt.records.transition(run_id, "starting", attempt=1)
    from workers.fleet.lease import Lease

    lease = Lease(rt.redis, run_id, 60)
    assert lease.acquire()
    sandbox: Sandbox | None = Claimer(rt.redis, rt.launcher, rt.hostname).claim(
        shape_of(rt), run_claim(run_id))
    assert sandbox is not None
    rt.redis.delete(keys.pool_owner(keepers[0].owner))  # a claimed one is the run's, keeper or not
    assert reap_pool(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 0

    rt.records.transition(run_id, "cancelled", attempt=1, stop_reason="cancelled by request")

    assert reap_pool(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 1
    assert not exists(rt, sandbox.container_id)
    lease.release()


def test_a_cancel_stops_a_run_on_a_warm_sandbox_and_removes_it(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    [pooled] = ready_ids(rt, shape_of(rt))
    run_id = new_run(rt, script("sleep 593", "echo never"))
    worker = threading.Thread(target=execute_run, args=(run_id, rt), daemon=True)
    worker.start()
    wait_for(lambda: sleeping_in(rt, pooled), 90, "the long call to start in the warm sandbox")

    rt.records.request_cancel(run_id, "stop it")
    worker.join(timeout=60)  # the call itself would take ten minutes

    assert not worker.is_alive(), "the run did not end after its cancel"
    record = rt.records.get(run_id)
    assert (record.state, record.container_id) == ("cancelled", pooled)
    assert not exists(rt, pooled)
    assert assert_ended_clean(rt, run_id, 1)["state"] == "cancelled"


def test_a_keeper_stopping_after_redis_is_gone_still_removes_its_idle_sandboxes(
    make_runtime: MakeRuntime, own_redis: RedisServer
) -> None:
    """A process manager stops Redis and the worker at once (honcho does): the keeper's shutdown
    does not wait out the outage, and leaves no idle desktop running on the host."""
    rt = make_runtime(redis_url=own_redis.url, warm_pool_size=1)
    keeper = PoolKeeper(rt.launcher, rt.redis, rt.settings, rt.hostname)
    keeper.pass_once()
    [pooled] = ready_ids(rt, shape_of(rt))
    own_redis.stop()

    began = time.monotonic()
    keeper.stop(drain=True)

    assert time.monotonic() - began < 10
    assert not exists(rt, pooled)


def test_a_claimed_sandbox_without_a_lease_is_kept_right_after_redis_started(
    make_runtime: MakeRuntime, keepers: list[PoolKeeper]
) -> None:
    """As for a run's own container: a lease that ran out during a Redis outage is being taken back
    by its live worker, so a missing lease proves nothing for ``reaper_restart_grace_s``."""
    rt = make_runtime(warm_pool_size=1)
    keeper_for(rt, keepers).pass_once()
    run_id = new_run(rt, script("echo x"))
    rt.records.transition(run_id, "starting", attempt=1)
    sandbox = Claimer(rt.redis, rt.launcher, rt.hostname).claim(shape_of(rt), run_claim(run_id))
    assert sandbox is not None  # its run holds no lease

    redis_age_s = float(rt.redis.info("server")["uptime_in_seconds"])
    fleet = rt.settings.queue_name
    assert reap_pool(rt.docker, rt.records, rt.redis, fleet, restart_grace_s=redis_age_s + 3600) == 0
    assert exists(rt, sandbox.container_id)
    assert reap_pool(rt.docker, rt.records, rt.redis, fleet) == 1
    assert not exists(rt, sandbox.container_id)
