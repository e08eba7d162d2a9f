"""The Celery app factory. Long-run settings live here, each with its reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from celery import Celery
from celery.schedules import crontab

from core.broker import CHECK_SCHEDULES_TASK, REFRESH_MODELS_TASK, time_limits, transport_options
from core.settings import Settings
from scheduler.cron import beat_schedule

if TYPE_CHECKING:
    from workers.runtime import Runtime


def celery_config(settings: Settings) -> dict[str, object]:
    hard_limit_s = time_limits(settings.max_wall_s_cap, settings).hard_s
    if settings.visibility_timeout_s <= hard_limit_s:
        raise ValueError(
            f"visibility_timeout_s ({settings.visibility_timeout_s}) must exceed the longest hard "
            f"time limit ({hard_limit_s} s), or healthy long runs are delivered twice"
        )
    return {
        "broker_url": settings.redis_url,
        "task_default_queue": settings.queue_name,
        # A run is acknowledged only when it finished; a worker that dies mid-run leaves it unacked.
        "task_acks_late": True,
        # ...and if the pool child was killed (OOM, SIGKILL), the message goes back to the queue.
        "task_reject_on_worker_lost": True,
        # One run at a time per pool slot: a prefetched run would wait behind a 30-minute one.
        "worker_prefetch_multiplier": 1,
        "worker_concurrency": settings.worker_concurrency,
        # Results live in the run record, not in a Celery result backend.
        "task_ignore_result": True,
        "broker_connection_retry_on_startup": True,
        # The same transport options as the producer (core/broker.py): the visibility
        # timeout sits above the longest hard limit, so a healthy run is never redelivered while
        # it runs; a run whose worker died is resumed sooner by the reaper (lease expired).
        "broker_transport_options": transport_options(settings),
        "task_queue_max_priority": 9,
        "task_default_priority": 5,
        "worker_hijack_root_logger": False,
        "beat_schedule": {
            **beat_schedule(settings),
            "nightshift-reap": {"task": "nightshift.reap", "schedule": settings.reaper_interval_s},
            "nightshift-models": {"task": REFRESH_MODELS_TASK, "schedule": settings.catalog_refresh_s},
            "nightshift-schedules": {"task": CHECK_SCHEDULES_TASK, "schedule": crontab(minute=0, hour=6)},
        },
        "timezone": "UTC",
    }


def create_app(settings: Settings) -> Celery:
    from workers.tasks import register_tasks

    app = Celery("nightshift")
    app.conf.update(celery_config(settings))
    register_tasks(app, settings)
    _start_reaper_with_worker(app, settings)
    _consume_host_queue(settings)
    _check_models_at_start(app)
    return app


def _consume_host_queue(settings: Settings) -> None:
    """Every worker also consumes its machine's queue: a paused run's resume is sent there,
    because its sandbox lives on this machine's Docker engine."""
    import socket

    from celery.signals import celeryd_after_setup

    from core.broker import host_queue

    def add(instance: Any, **_: object) -> None:
        instance.app.amqp.queues.select_add(host_queue(settings, socket.gethostname()))

    celeryd_after_setup.connect(add, weak=False)


def _check_models_at_start(app: Celery) -> None:
    """A worker refreshes the catalog when it starts; beat checks every schedule when it starts
    (then both daily, from the beat schedule above)."""
    from celery.signals import beat_init, worker_ready

    worker_ready.connect(lambda **_: app.send_task(REFRESH_MODELS_TASK), weak=False)
    beat_init.connect(lambda **_: app.send_task(CHECK_SCHEDULES_TASK), weak=False)


def _start_reaper_with_worker(app: Celery, settings: Settings) -> None:
    """Each worker's main process reaps its own machine's containers and, on its turn, re-sends the
    fleet's orphaned runs (see workers/fleet/reaper.py)."""
    from celery.signals import worker_ready, worker_shutdown

    def on_ready(**_: object) -> None:
        from workers.fleet.reaper import ContainerReaper
        from workers.metrics import serve_metrics
        from workers.runtime import Runtime

        rt = Runtime.build(settings)
        reaper = ContainerReaper(rt, app, settings.reaper_interval_s)
        reaper.start()
        serve_metrics(settings, rt.hostname)
        worker_shutdown.connect(lambda **__: reaper.stop(), weak=False)
        _start_pool(rt)

    worker_ready.connect(on_ready, weak=False)


def _start_pool(rt: Runtime) -> None:
    """The host's warm pool (workers/sandbox/pool_keeper.py), drained when the worker stops."""
    from celery.signals import worker_shutdown

    from workers.sandbox.pool_keeper import PoolKeeper

    if rt.settings.warm_pool_size <= 0:
        return
    keeper = PoolKeeper(rt.launcher, rt.redis, rt.settings, rt.hostname)
    keeper.start()
    worker_shutdown.connect(lambda **__: keeper.stop(), weak=False)
