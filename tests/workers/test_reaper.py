"""Housekeeping: ``resume_orphans`` re-sends runs whose worker is gone (no live lease), and
``reap_containers`` removes this fleet's sandboxes that nobody runs any more, never another fleet's.
Containers here are small stand-ins (the sandbox image running ``sleep``) with a sandbox's labels."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest
from celery import Celery

from core import broker, keys
from core import labels as label
from core.approvals import ApprovalRequest, Approvals
from core.records import RunRecord
from core.states import StopReason
from tests.workers.conftest import MakeRuntime, containers_of, new_run, script, sent_runs, wait_for
from workers.app import create_app
from workers.fleet.lease import Lease
from workers.fleet.reaper import (
    SOCKET_DIR_GRACE_S,
    ContainerReaper,
    reap_containers,
    reap_once,
    resume_on_my_turn,
    resume_orphans,
    sweep_socket_dirs,
)
from workers.runner import RetryRun, execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker


@pytest.fixture
def foreign(docker_client: docker.DockerClient) -> Iterator[list[Any]]:
    """Containers started outside this test's fleet; removed at teardown."""
    started: list[Any] = []
    yield started
    for container in started:
        container.remove(force=True)


def run_in(rt: Runtime, state: str, attempt: int = 1, *, leased: bool = False, **fields: Any) -> RunRecord:
    """A run already moved to ``state`` at ``attempt``, its lease held when ``leased``."""
    run_id = new_run(rt, script("echo x", **fields))
    rt.records.transition(run_id, "starting", attempt=attempt)
    if state != "starting":
        rt.records.transition(run_id, state, attempt=attempt)
    if leased:
        assert Lease(rt.redis, run_id, 60).acquire()
    return rt.records.get(run_id)


def stand_in(
    rt: Runtime, run_id: str, *, attempt: int = 1, deadline_in_s: float = 3600, fleet: str | None = None
) -> Any:
    """A sleeping container labelled as a sandbox of ``run_id`` (``fleet=None``: this test's fleet,
    ``""``: no fleet label at all)."""
    labels = {
        label.RUN_ID: run_id,
        label.ATTEMPT: str(attempt),
        label.DEADLINE: str(int(time.time() + deadline_in_s)),
    }
    fleet = rt.settings.queue_name if fleet is None else fleet
    if fleet:
        labels[label.FLEET] = fleet
    return rt.docker.containers.run(
        rt.settings.sandbox_image,
        entrypoint=["sleep", "600"],
        detach=True,
        labels=labels,
        network_mode="none",
    )


def exists(container: Any) -> bool:
    try:
        container.reload()
    except docker.errors.NotFound:
        return False
    return True


def reap(rt: Runtime) -> int:
    return reap_containers(rt.docker, rt.records, rt.redis, rt.settings.queue_name)


# --- resume_orphans -----------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["starting", "running"])
def test_a_run_whose_worker_is_gone_is_sent_again_with_its_priority_and_time_limits(
    rt: Runtime, app: Celery, state: str
) -> None:
    record = run_in(rt, state, priority=2, budgets={"max_wall_s": 300})

    assert resume_orphans(rt.records, rt.redis, app, rt.settings) == 1

    (message,) = sent_runs(rt)
    limits = broker.time_limits(300, rt.settings)
    assert (message["task"], message["args"], message["priority"]) == ("nightshift.run", [record.run_id], 2)
    assert message["time_limits"] == (limits.soft_s, limits.hard_s)
    resumed = [e for e in rt.records.events(record.run_id) if e["type"] == "resumed"]
    assert [(e["reason"], e["attempt"]) for e in resumed] == [("worker gone", 1)]


def test_a_run_with_a_live_lease_is_not_sent_again(rt: Runtime, app: Celery) -> None:
    run_in(rt, "running", leased=True)

    assert resume_orphans(rt.records, rt.redis, app, rt.settings) == 0
    assert sent_runs(rt) == []


def test_queued_and_finished_runs_are_not_resumed(rt: Runtime, app: Celery) -> None:
    new_run(rt, script("echo queued"))
    run_in(rt, "succeeded")
    run_in(rt, "cancelled")

    assert resume_orphans(rt.records, rt.redis, app, rt.settings) == 0
    assert sent_runs(rt) == []


def test_a_run_waiting_for_its_retry_is_not_sent_again(make_runtime: MakeRuntime) -> None:
    rt = make_runtime(max_attempts=3, sandbox_image="No-Such-Image")  # docker run refuses it at once
    run_id = new_run(rt, script("echo x"))
    with pytest.raises(RetryRun):  # Celery now holds the retry message for retry_delay_s
        execute_run(run_id, rt)
    celery_app = create_app(rt.settings)
    try:
        resumed = resume_orphans(rt.records, rt.redis, celery_app, rt.settings)
    finally:
        celery_app.close()

    assert resumed == 0


# --- reap_containers ----------------------------------------------------------------------------------


def test_the_sandbox_of_a_live_run_is_kept(rt: Runtime) -> None:
    record = run_in(rt, "running", leased=True)
    container = stand_in(rt, record.run_id)

    assert reap(rt) == 0
    assert exists(container)


def test_the_sandbox_of_a_finished_run_is_removed(rt: Runtime) -> None:
    record = run_in(rt, "failed")
    container = stand_in(rt, record.run_id)

    assert reap(rt) == 1
    assert not exists(container)


def test_the_sandbox_of_a_run_past_its_deadline_is_removed_even_with_a_live_lease(rt: Runtime) -> None:
    record = run_in(rt, "running", leased=True)
    container = stand_in(rt, record.run_id, deadline_in_s=-1)

    assert reap(rt) == 1
    assert not exists(container)


def test_the_sandbox_of_a_run_whose_worker_is_gone_is_removed(rt: Runtime) -> None:
    record = run_in(rt, "running", leased=False)
    container = stand_in(rt, record.run_id)

    assert reap(rt) == 1
    assert not exists(container)


def test_the_sandbox_of_an_earlier_attempt_is_removed(rt: Runtime) -> None:
    record = run_in(rt, "running", attempt=2, leased=True)
    stale, current = stand_in(rt, record.run_id, attempt=1), stand_in(rt, record.run_id, attempt=2)

    assert reap(rt) == 1
    assert (exists(stale), exists(current)) == (False, True)


def test_the_sandbox_of_an_unknown_run_is_removed(rt: Runtime) -> None:
    container = stand_in(rt, f"run-unknown-{uuid.uuid4().hex[:8]}")

    assert reap(rt) == 1
    assert not exists(container)


def test_containers_of_other_fleets_or_of_no_fleet_are_left_alone(rt: Runtime, foreign: list[Any]) -> None:
    record = run_in(rt, "failed")
    foreign.append(stand_in(rt, record.run_id, fleet=f"ns-other-{uuid.uuid4().hex[:8]}"))
    foreign.append(stand_in(rt, record.run_id, fleet=""))

    assert reap(rt) == 0
    assert all(exists(container) for container in foreign)


def test_the_workers_timer_removes_dead_sandboxes_by_itself(rt: Runtime, app: Celery) -> None:
    record = run_in(rt, "succeeded")
    stand_in(rt, record.run_id)
    reaper = ContainerReaper(rt, app, interval_s=0.2)

    reaper.start()
    try:
        wait_for(lambda: containers_of(rt, record.run_id) == [], 30, "the timer to reap the sandbox")
    finally:
        reaper.stop()


def test_a_reap_pass_resumes_a_dead_workers_run_and_removes_its_sandbox(rt: Runtime, app: Celery) -> None:
    record = run_in(rt, "running", leased=False)
    container = stand_in(rt, record.run_id)

    assert reap_once(rt, app) == {"resumed": 1, "removed": 1, "pruned": 0, "approvals_lost": 0}
    assert not exists(container)
    assert [m["args"] for m in sent_runs(rt)] == [[record.run_id]]


def test_the_workers_timer_resends_orphans_without_a_free_slot(rt: Runtime, app: Celery) -> None:
    """The timer runs in the worker's main process: a fleet whose every slot is busy still resumes
    a dead worker's run (the beat task would wait in the queue behind the runs)."""
    record = run_in(rt, "running", leased=False)
    reaper = ContainerReaper(rt, app, interval_s=0.2)

    reaper.start()
    try:
        wait_for(lambda: [m["args"] for m in sent_runs(rt)] == [[record.run_id]], 30, "the run re-sent")
    finally:
        reaper.stop()


def test_one_host_per_interval_resends_orphans(make_runtime: MakeRuntime, app: Celery) -> None:
    """Two hosts' reapers in the same interval: the run is sent once (the other host's turn is
    taken), and again only in a later interval if it is still orphaned."""
    host_a = make_runtime(reaper_interval_s=30.0)
    host_b = make_runtime(reaper_interval_s=30.0)
    record = run_in(host_a, "running", leased=False)

    assert (resume_on_my_turn(host_a, app), resume_on_my_turn(host_b, app)) == (1, 0)
    assert [m["args"] for m in sent_runs(host_a)] == [[record.run_id]]
    host_a.redis.delete(keys.reaper_turn(host_a.settings.queue_name))  # the interval passed
    assert resume_on_my_turn(host_b, app) == 1


def _waiting(rt: Runtime, deadline: float, queue: str) -> RunRecord:
    record = run_in(rt, "running")
    assert rt.records.transition(record.run_id, "needs_approval", attempt=1)
    Approvals(rt.redis).open(ApprovalRequest(
        run_id=record.run_id, name="x", what="pay", why="asked", step=1, tool_use_id="t",
        requested_at=time.time(), deadline=deadline, host="gone-host", queue=queue, container_id="0" * 64,
        max_wall_s=60))
    return record


def test_a_paused_sandbox_without_a_lease_or_past_its_wall_deadline_is_kept(rt: Runtime) -> None:
    record = _waiting(rt, time.time() + 3600, "q.host.here")
    container = stand_in(rt, record.run_id, deadline_in_s=-1)

    assert reap_containers(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 0
    assert exists(container)
    Approvals(rt.redis).close(record.run_id)  # its request gone: nothing will resume it
    assert reap_containers(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 1


def test_a_resumed_runs_sandbox_has_its_deadline_moved_by_the_time_it_waited(rt: Runtime) -> None:
    """Its label's deadline was set at start; the wait for a human does not count against it."""
    resumed = run_in(rt, "running", leased=True)
    rt.records.update(resumed.run_id, paused_s=3600.0)
    kept = stand_in(rt, resumed.run_id, deadline_in_s=-60)
    overdue = stand_in(rt, run_in(rt, "running", leased=True).run_id, deadline_in_s=-60)

    assert reap_containers(rt.docker, rt.records, rt.redis, rt.settings.queue_name) == 1
    assert exists(kept) and not exists(overdue)


def test_a_paused_run_whose_machine_never_ended_it_fails_with_why(rt: Runtime, app: Celery) -> None:
    late = _waiting(rt, time.time() - 3600, "q.host.gone-host")
    on_time = _waiting(rt, time.time() - 1, "q.host.gone-host")  # its machine's reaper still has time

    assert reap_once(rt, app)["approvals_lost"] == 1

    record = rt.records.get(late.run_id)
    assert (record.state, record.stop_reason) == ("failed", StopReason.APPROVAL_LOST)
    assert "gone-host" in (record.error or "")
    assert rt.records.get(on_time.run_id).state == "needs_approval"
    assert [r.run_id for r in Approvals(rt.redis).pending()] == [on_time.run_id]


# --- socket directories -------------------------------------------------------------------------------


def test_a_dead_attempts_socket_directory_goes_with_its_sandbox(rt: Runtime) -> None:
    record = run_in(rt, "running", leased=False)  # its worker died: nothing else would remove them
    container = stand_in(rt, record.run_id)
    container.reload()
    socket_dir = rt.settings.sandbox_socket_dir / container.name
    socket_dir.mkdir()

    assert reap_containers(rt.docker, rt.records, rt.redis, rt.settings.queue_name,
                           rt.settings.sandbox_socket_dir) == 1
    assert not exists(container) and not socket_dir.exists()


def test_stale_socket_directories_without_a_sandbox_are_swept_young_ones_kept(rt: Runtime) -> None:
    parent = rt.settings.sandbox_socket_dir
    live = rt.docker.containers.run(rt.settings.sandbox_image, entrypoint=["sleep", "600"], detach=True,
                                    labels={label.SANDBOX: "1"}, network_mode="none")
    try:
        live.reload()
        old = time.time() - SOCKET_DIR_GRACE_S - 60
        for name in (live.name, "nightshift-gone-1", "nightshift-young-1"):
            (parent / name).mkdir()
        for name in (live.name, "nightshift-gone-1"):
            os.utime(parent / name, (old, old))

        assert sweep_socket_dirs(rt.docker, parent) == 1
        assert sorted(p.name for p in parent.iterdir()) == sorted([live.name, "nightshift-young-1"])
    finally:
        live.remove(force=True)


def test_egress_rules_of_sandboxes_that_are_gone_are_swept(rt: Runtime) -> None:
    live = stand_in(rt, "run-egress-live")
    gone = stand_in(rt, "run-egress-gone")
    rt.egress.rules_dir.mkdir(parents=True, exist_ok=True)
    for ip, container in (("10.9.0.2", live), ("10.9.0.3", gone)):
        rules = {"container_id": container.id, "rules": []}
        (rt.egress.rules_dir / f"{ip}.json").write_text(json.dumps(rules))
    gone.remove(force=True)

    assert rt.egress.sweep() == 1
    assert sorted(p.name for p in rt.egress.rules_dir.iterdir()) == ["10.9.0.2.json"]
