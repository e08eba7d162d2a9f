"""The broker contract the scheduler (producer) and the workers (consumer) share.

Both sides must build their Celery app with the same transport options (workers/app.py sets the
same priority steps): kombu's Redis transport routes a message to a per-priority list chosen from
``priority_steps`` on the producer side, and the consumer polls the same lists. Redis serves lower
numbers first (0 = most urgent).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import redis
from celery import Celery
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from core.settings import Settings

RUN_TASK = "nightshift.run"
FIRE_SCHEDULE_TASK = "nightshift.fire_schedule"
CHECK_SCHEDULES_TASK = "nightshift.check_schedules"  # daily: which schedules' models break when
REPORT_TASK = "nightshift.report"  # render a run's report.html again (nightshift report RUN)
REFRESH_MODELS_TASK = "nightshift.refresh_models"  # daily: the Models API into the Redis catalog cache
PRIORITY_STEPS = list(range(10))
QUEUE_SEP = "\x06\x16"  # kombu's default separator between a queue name and its priority step


def transport_options(settings: Settings) -> dict[str, Any]:
    return {
        # Above the longest hard time limit, so a healthy long run is never delivered twice.
        "visibility_timeout": settings.visibility_timeout_s,
        "priority_steps": PRIORITY_STEPS,
        "queue_order_strategy": "priority",
    }


RETRY_CAP_S = 2.0  # the longest pause between two tries of a Redis call during an outage


CLIENT_OUTAGE_S = 12.0  # a command or an HTTP request waits this long for Redis, then says so


def connect_redis(settings: Settings, outage_s: float | None = None) -> redis.Redis:
    """The Redis client for run records, events, leases and limits. redis-py's own retry with
    exponential backoff (capped at 2 s) carries every call across a Redis outage of up to
    ``redis_outage_max_s``: a run in flight waits for Redis (its step paused) rather than failing
    on a progress write or a transition while Redis is away or comes back from its AOF.
    ``outage_s``: a shorter wait for clients a person is waiting on (CLI, HTTP API)."""
    retries = math.ceil((outage_s or settings.redis_outage_max_s) / RETRY_CAP_S) + 5
    return redis.Redis.from_url(
        settings.redis_url,
        retry=Retry(ExponentialBackoff(cap=RETRY_CAP_S, base=0.1), retries=retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
        health_check_interval=30,
    )


def connect_redis_briefly(settings: Settings, timeout_s: float = 1.0) -> redis.Redis:
    """A client that fails at once when Redis does not answer: for shutdown paths, where waiting out
    an outage would only be cut short by the process manager's kill."""
    return redis.Redis.from_url(settings.redis_url, socket_timeout=timeout_s,
                                socket_connect_timeout=timeout_s)


class TimeLimits(NamedTuple):
    soft_s: int  # whole seconds, rounded up: Celery's limits are ints
    hard_s: int


def time_limits(max_wall_s: float, settings: Settings) -> TimeLimits:
    """Celery's soft and hard time limits for one run, derived from its wall-clock budget. The
    loop stops itself at ``max_wall_s``; the soft limit (+grace) interrupts a run stuck past it so
    the worker still records the outcome and removes the container; the hard limit (+2x grace)
    kills the pool process. Outputs and checks run after the agent within ``after_agent_max_s``,
    which the limits include. ``workers/app.py`` checks the visibility timeout exceeds the longest."""
    after = settings.after_agent_max_s + settings.time_limit_grace_s
    soft = math.ceil(min(max_wall_s, settings.max_wall_s_cap)) + after
    return TimeLimits(soft, soft + settings.time_limit_grace_s)


def send_run(celery_app: Celery, settings: Settings, run_id: str, priority: int, max_wall_s: float) -> None:
    """Send ``nightshift.run`` by name: the one place a run message is built."""
    limits = time_limits(max_wall_s, settings)
    celery_app.send_task(RUN_TASK, args=[run_id], queue=settings.queue_name, priority=priority,
                         soft_time_limit=limits.soft_s, time_limit=limits.hard_s)


def host_queue(settings: Settings, host: str) -> str:
    """The queue only the workers of ``host`` consume: a paused sandbox lives on one machine, so
    the run's resume goes there."""
    return f"{settings.queue_name}.host.{host}"


def send_resume(celery_app: Celery, settings: Settings, run_id: str, queue: str, max_wall_s: float) -> None:
    """Send ``nightshift.run`` for a paused run to its machine's queue (most urgent priority: a
    human is waiting on it, and it holds memory while it waits)."""
    limits = time_limits(max_wall_s, settings)
    celery_app.send_task(RUN_TASK, args=[run_id], queue=queue, priority=0,
                         soft_time_limit=limits.soft_s, time_limit=limits.hard_s)


def make_celery(settings: Settings, name: str = "nightshift-scheduler") -> Celery:
    """A producer-only Celery app: it sends tasks by name and never imports ``workers``."""
    app = Celery(name, broker=settings.redis_url, set_as_current=False)
    app.conf.broker_transport_options = transport_options(settings)
    app.conf.task_default_queue = settings.queue_name
    app.conf.broker_connection_retry_on_startup = True
    return app


def queue_keys(settings: Settings) -> list[str]:
    """The Redis lists holding the queue's pending messages (one per priority step)."""
    name = settings.queue_name
    return [name if step == 0 else f"{name}{QUEUE_SEP}{step}" for step in PRIORITY_STEPS]


def queue_depth(redis: redis.Redis, settings: Settings) -> int:
    with redis.pipeline(transaction=False) as pipe:
        for key in queue_keys(settings):
            pipe.llen(key)
        return int(sum(pipe.execute()))
