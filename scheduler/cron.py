"""Cron schedules: a YAML file of ``{name, cron, timezone, tasks}`` entries becomes a Celery beat
schedule (Celery's own ``crontab``, evaluated in each entry's timezone). Each beat entry sends
``nightshift.fire_schedule`` with the schedule's name; the worker-side task calls ``fire``.

``fire`` computes the slot (the latest cron time at or before now, in the schedule's timezone) and
claims it in Redis atomically: a slot fires at most once even with two beat processes, and never at
or before the last slot fired, so a restart does not fire a missed slot twice. When beat was down
over a slot, the next fire enqueues that most recent missed slot once (older ones are skipped).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import structlog
from celery import Celery
from celery.schedules import crontab
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from redis import Redis

from core import keys
from core.broker import FIRE_SCHEDULE_TASK
from core.catalog import Catalog
from core.settings import Settings
from scheduler.enqueue import enqueue
from scheduler.taskfile import Checks, load_file
from scheduler.yamlfile import InvalidFile, Problem, parse

log = structlog.get_logger("nightshift.cron")
SLOT_TTL_S = 8 * 24 * 3600  # the per-slot lock outlives any sane beat outage; `last` is permanent


class Schedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
    cron: str = Field(description="5 fields: minute hour day-of-month month day-of-week")
    timezone: str = "UTC"
    tasks: Path = Field(description="task file, relative to the schedules file")

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, cron: str) -> str:
        if len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ValueError("cron must be a 5-field expression, e.g. '30 2 * * *'")
        return cron

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {name!r} (use an IANA name like Europe/Berlin)") from exc
        return name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def load_schedules(path: str | Path) -> list[Schedule]:
    """Schedules from a file (a list, or ``schedules: [...]``); task paths made absolute."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidFile([Problem(str(path), None, "", f"cannot read schedules file: {exc}")]) from exc
    doc = parse(text, str(path))
    items = doc.data.get("schedules") if isinstance(doc.data, dict) else doc.data
    base: tuple[str, ...] = ("schedules",) if isinstance(doc.data, dict) else ()
    if not isinstance(items, list):
        raise InvalidFile([doc.problem((), "expected a list of schedules (or schedules: [...])")])
    found, problems = [], []
    for index, raw in enumerate(items):
        try:
            schedule = Schedule.model_validate(raw)
        except ValidationError as exc:
            for error in exc.errors():
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(doc.problem((*base, index, *error["loc"]), message))
            continue
        tasks = (path.resolve().parent / schedule.tasks).resolve()
        if not tasks.is_file():
            problems.append(doc.problem((*base, index, "tasks"), f"task file not found: {tasks}"))
        found.append(schedule.model_copy(update={"tasks": tasks}))
    problems += _duplicates(found, str(path))
    if problems:
        raise InvalidFile(problems)
    return found


def _duplicates(schedules: list[Schedule], source: str) -> list[Problem]:
    names = [s.name for s in schedules]
    repeated = sorted({n for n in names if names.count(n) > 1})
    return [Problem(source, None, "name", f"duplicate schedule {n!r}") for n in repeated]


class ZonedCrontab(crontab):
    """Celery's ``crontab`` evaluated in a given timezone instead of the app's."""

    def __init__(self, *args: Any, zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone

    # celery-types says ``tz`` is a str; Celery's own returns the app's tzinfo, as this does
    @cached_property
    def tz(self) -> ZoneInfo:  # type: ignore[override]
        return ZoneInfo(self.zone)

    def __reduce__(self) -> tuple[Any, ...]:  # beat's shelve pickles entries: keep the zone
        cls, fields, kwargs = cast(tuple[Any, Any, dict[str, Any]], super().__reduce__())
        return cls, fields, {**kwargs, "zone": self.zone}

    def __setstate__(self, state: Mapping[str, Any]) -> None:
        state = dict(state)
        self.zone = state.pop("zone", "UTC")
        super().__setstate__(state)  # type: ignore[misc]  # Celery's crontab has it; the stubs do not


def crontab_for(schedule: Schedule) -> ZonedCrontab:
    minute, hour, day_of_month, month_of_year, day_of_week = schedule.cron.split()
    return ZonedCrontab(
        minute=minute,
        hour=hour,
        day_of_week=day_of_week,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        zone=schedule.timezone,
    )


def beat_schedule(settings: Settings, schedules: list[Schedule] | None = None) -> dict[str, dict[str, Any]]:
    """The ``beat_schedule`` setting: one entry per schedule (``schedules``, else those of
    ``settings.schedules_file``, else none), each sending ``nightshift.fire_schedule``."""
    if schedules is None:
        schedules = load_schedules(settings.schedules_file) if settings.schedules_file else []
    return {
        f"nightshift:{s.name}": {
            "task": FIRE_SCHEDULE_TASK,
            "schedule": crontab_for(s),
            "args": [s.name],
            "options": {"queue": settings.queue_name, "priority": 0},
        }
        for s in schedules
    }


def slot_for(schedule: Schedule, now: datetime) -> datetime:
    """The latest cron time at or before ``now``, in the schedule's timezone."""
    local = now.astimezone(schedule.zone).replace(second=0, microsecond=0) + timedelta(minutes=1)
    slot: datetime = croniter(schedule.cron, local).get_prev(datetime)
    return slot


# KEYS: slot lock, last fired.  ARGV: slot epoch seconds, lock TTL.
_CLAIM = """
local last = redis.call('GET', KEYS[2])
if last and tonumber(last) >= tonumber(ARGV[1]) then return 0 end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


def claim_slot(redis: Redis, schedule_name: str, slot: datetime) -> bool:
    """True exactly once per slot, and never for a slot at or before the last one claimed."""
    slot_key = keys.schedule_slot(schedule_name, slot.astimezone(ZoneInfo("UTC")).isoformat())
    epoch = str(int(slot.timestamp()))
    claimed = redis.eval(_CLAIM, 2, slot_key, keys.schedule_last(schedule_name), epoch, str(SLOT_TTL_S))
    return bool(claimed)


def fire(
    schedule_name: str,
    now: datetime,
    redis: Redis,
    celery_app: Celery,
    settings: Settings,
    *,
    schedules_file: str | Path | None = None,
) -> list[str]:
    """Enqueue the schedule's task file for the slot ``now`` falls in; [] when that slot was fired
    already. The task file is validated before the slot is claimed: a broken file raises and
    leaves the slot unclaimed."""
    schedule = _find(schedule_name, schedules_file or settings.schedules_file)
    slot = slot_for(schedule, now)
    checks = Checks(settings, check_secrets=settings.check_secrets)
    tasks = load_file(schedule.tasks, checks)
    bound = log.bind(schedule=schedule_name, slot=slot.isoformat())
    if not claim_slot(redis, schedule_name, slot):
        bound.info("cron.slot_already_fired")
        return []
    run_ids = enqueue(tasks, redis, celery_app, settings, source=f"cron:{schedule_name}")
    bound.info("cron.fired", run_ids=run_ids)
    return run_ids


def fire_now(schedule_name: str, redis: Redis, celery_app: Celery, settings: Settings) -> list[str]:
    """``fire`` at the current time: what the worker's ``nightshift.fire_schedule`` task calls."""
    return fire(schedule_name, datetime.now(UTC), redis, celery_app, settings)


def _find(name: str, schedules_file: str | Path | None) -> Schedule:
    if schedules_file is None:
        raise LookupError("no schedules file configured (NIGHTSHIFT_SCHEDULES_FILE)")
    for schedule in load_schedules(schedules_file):
        if schedule.name == name:
            return schedule
    raise LookupError(f"no schedule named {name!r} in {schedules_file}")


def check_schedules(
    settings: Settings, catalog: Catalog, schedules_file: str | Path | None = None
) -> list[str]:
    """Every schedule's task file against the model catalog: what breaks now (a retired model: the
    next fire is refused) and what will break when (deprecations with their dates). Logged, and
    returned as lines; run by beat at start and daily."""
    path = schedules_file or settings.schedules_file
    findings: list[str] = []
    for schedule in load_schedules(path) if path else []:
        findings += _check_one(schedule, Checks(settings, check_secrets=False, catalog=catalog))
    return findings


def _check_one(schedule: Schedule, checks: Checks) -> list[str]:
    bound = log.bind(schedule=schedule.name, tasks=str(schedule.tasks))
    try:
        tasks = load_file(schedule.tasks, checks)
    except InvalidFile as exc:
        for problem in exc.problems:
            bound.error("cron.schedule_broken", problem=str(problem), when="now")
        return [f"{schedule.name}: breaks now: {p}" for p in exc.problems]
    warnings = [w for task in tasks for w in task.warnings]
    for warning in warnings:
        bound.warning("cron.schedule_will_break", warning=str(warning))
    return [f"{schedule.name}: {w}" for w in warnings]
