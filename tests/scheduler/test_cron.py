"""Cron: schedules become Celery beat entries in their timezone; a slot fires once, even with two
beats; a missed or old slot never fires twice."""

from __future__ import annotations

import pickle
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis as redis_lib
from celery import Celery

from core import broker
from core.records import Records
from core.settings import Settings
from scheduler import cron
from scheduler.yamlfile import InvalidFile
from tests.scheduler.conftest import EXAMPLE_BATCH, EXAMPLE_SCHEDULES, queued_messages, write

BERLIN = ZoneInfo("Europe/Berlin")
TASKS = "tasks:\n" + "".join(
    f"  - {{name: t{i}, agent: script, steps: [{{name: bash, input: {{command: 'true'}}}}]}}\n"
    for i in range(3)
)


@pytest.fixture
def schedules_file(tmp_path: Path) -> Path:
    write(tmp_path / "tasks.yaml", TASKS)
    return write(
        tmp_path / "schedules.yaml",
        "- {name: nightly, cron: '30 2 * * *', timezone: Europe/Berlin, tasks: tasks.yaml}\n"
        "- {name: tokyo-morning, cron: '0 9 * * 1-5', timezone: Asia/Tokyo, tasks: tasks.yaml}\n",
    )


@pytest.fixture
def cron_settings(settings: Settings, schedules_file: Path) -> Settings:
    return settings.model_copy(update={"schedules_file": schedules_file})


def fire_at(
    when: datetime, redis: redis_lib.Redis, app: Any, settings: Settings, name: str = "nightly"
) -> list[str]:
    return cron.fire(name, when, redis, app, settings)


def test_the_example_schedule_names_the_example_batch() -> None:
    (schedule,) = cron.load_schedules(EXAMPLE_SCHEDULES)
    assert (schedule.name, schedule.cron, schedule.timezone) == (
        "nightly-batch",
        "30 2 * * *",
        "Europe/Berlin",
    )
    assert schedule.tasks == EXAMPLE_BATCH


def test_bad_schedules_are_reported_with_their_lines(tmp_path: Path) -> None:
    write(tmp_path / "t.yaml", TASKS)
    path = write(
        tmp_path / "s.yaml",
        "schedules:\n"
        "  - {name: a, cron: '30 2 * *', timezone: UTC, tasks: t.yaml}\n"
        "  - {name: b, cron: '* * * * *', timezone: Mars/Olympus, tasks: t.yaml}\n"
        "  - {name: c, cron: '* * * * *', tasks: missing.yaml}\n",
    )
    with pytest.raises(InvalidFile) as exc:
        cron.load_schedules(path)
    assert [(p.line, p.field) for p in exc.value.problems] == [
        (2, "schedules[0].cron"),
        (3, "schedules[1].timezone"),
        (4, "schedules[2].tasks"),
    ]
    assert exc.value.problems[0].message == "cron must be a 5-field expression, e.g. '30 2 * * *'"


def test_beat_entries_send_fire_schedule_with_the_schedule_name(cron_settings: Settings) -> None:
    entries = cron.beat_schedule(cron_settings)
    entry = entries["nightshift:nightly"]
    assert (entry["task"], entry["args"]) == ("nightshift.fire_schedule", ["nightly"])
    assert entry["options"]["queue"] == cron_settings.queue_name
    assert entry["schedule"].tz == BERLIN and entries["nightshift:tokyo-morning"]["schedule"].tz == ZoneInfo(
        "Asia/Tokyo"
    )


def test_the_beat_schedule_comes_from_the_configured_file(
    settings: Settings, cron_settings: Settings
) -> None:
    assert cron.beat_schedule(settings) == {}
    assert sorted(cron.beat_schedule(cron_settings)) == ["nightshift:nightly", "nightshift:tokyo-morning"]
    (nightly,) = [s for s in cron.load_schedules(cron_settings.schedules_file or "") if s.name == "nightly"]
    assert list(cron.beat_schedule(settings, [nightly])) == ["nightshift:nightly"]


def test_celery_beat_times_the_entry_in_the_schedules_timezone(cron_settings: Settings) -> None:
    entries = cron.beat_schedule(cron_settings)
    schedule = entries["nightshift:nightly"]["schedule"]
    schedule.app = Celery(set_as_current=False)  # app timezone UTC; the entry says Berlin
    last_run = datetime(2025, 11, 20, 2, 30, tzinfo=BERLIN)

    schedule.nowfun = lambda: datetime(2025, 11, 21, 1, 29, tzinfo=UTC)  # 02:29 in Berlin
    assert not schedule.is_due(last_run).is_due
    schedule.nowfun = lambda: datetime(2025, 11, 21, 1, 30, 5, tzinfo=UTC)  # 02:30:05 in Berlin
    assert schedule.is_due(last_run).is_due


def test_the_beat_entry_survives_beats_pickled_schedule_file(cron_settings: Settings) -> None:
    schedule = cron.beat_schedule(cron_settings)["nightshift:tokyo-morning"]["schedule"]
    copy = pickle.loads(pickle.dumps(schedule))
    assert copy.tz == ZoneInfo("Asia/Tokyo") and copy == schedule


def test_the_slot_is_the_latest_cron_time_at_or_before_now() -> None:
    schedule = cron.Schedule(name="n", cron="30 2 * * *", timezone="Europe/Berlin", tasks=Path("t"))
    on_time = datetime(2025, 11, 21, 2, 30, tzinfo=BERLIN)
    assert cron.slot_for(schedule, on_time) == on_time
    assert cron.slot_for(schedule, on_time + timedelta(hours=5)) == on_time
    assert cron.slot_for(schedule, on_time - timedelta(seconds=1)) == on_time - timedelta(days=1)
    # 01:30 UTC is 02:30 in Berlin in winter: the schedule's own clock decides
    assert cron.slot_for(schedule, datetime(2025, 11, 21, 1, 30, tzinfo=UTC)) == on_time


def test_a_slot_fires_once(redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings) -> None:
    at = datetime(2025, 11, 21, 2, 30, 1, tzinfo=BERLIN)
    first = fire_at(at, redis_client, celery_app, cron_settings)
    again = fire_at(at + timedelta(minutes=3), redis_client, celery_app, cron_settings)

    assert len(first) == 3 and again == []
    assert [Records(redis_client).get(r).source for r in first] == ["cron:nightly"] * 3
    assert sorted(m.args[0] for m in queued_messages(redis_client, cron_settings)) == sorted(first)


def test_two_beats_firing_the_same_slot_enqueue_it_once(
    redis_server: Any, redis_client: redis_lib.Redis, cron_settings: Settings
) -> None:
    at = datetime(2025, 11, 21, 2, 30, 0, 200_000, tzinfo=BERLIN)
    barrier = threading.Barrier(4)
    fired: list[list[str]] = []

    def beat() -> None:
        client = redis_lib.Redis.from_url(redis_server.url)
        app = broker.make_celery(cron_settings)
        barrier.wait()
        fired.append(fire_at(at, client, app, cron_settings))
        client.close()

    threads = [threading.Thread(target=beat) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(len(ids) for ids in fired) == [0, 0, 0, 3]
    assert len(queued_messages(redis_client, cron_settings)) == 3


def test_a_missed_slot_fires_once_after_a_restart_and_never_again(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings
) -> None:
    slot = datetime(2025, 11, 21, 2, 30, tzinfo=BERLIN)
    # beat was down at 02:30; it comes back at 07:00 and fires the missed slot once
    assert len(fire_at(slot + timedelta(hours=4, minutes=30), redis_client, celery_app, cron_settings)) == 3
    # a second restart (beat's own schedule file lost) must not fire it again
    assert fire_at(slot + timedelta(hours=5), redis_client, celery_app, cron_settings) == []
    # the next day's slot fires normally
    assert len(fire_at(slot + timedelta(days=1), redis_client, celery_app, cron_settings)) == 3


def test_a_slot_at_or_before_the_last_fired_one_never_fires(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings
) -> None:
    today = datetime(2025, 11, 21, 2, 30, tzinfo=BERLIN)
    assert fire_at(today, redis_client, celery_app, cron_settings)
    redis_client.delete(*redis_client.keys("ns:cron:nightly:2025-*"))  # even with its slot lock expired
    assert fire_at(today - timedelta(days=1), redis_client, celery_app, cron_settings) == []  # a late message
    assert fire_at(today, redis_client, celery_app, cron_settings) == []


def test_schedules_fire_independently(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings
) -> None:
    at = datetime(2025, 11, 21, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # a Friday
    assert len(fire_at(at, redis_client, celery_app, cron_settings, "tokyo-morning")) == 3
    assert len(fire_at(at, redis_client, celery_app, cron_settings, "nightly")) == 3


def test_a_broken_task_file_raises_and_leaves_the_slot_unclaimed(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings, tmp_path: Path
) -> None:
    write(tmp_path / "tasks.yaml", "name: x\nagent: script\n")
    at = datetime(2025, 11, 21, 2, 31, tzinfo=BERLIN)
    with pytest.raises(InvalidFile):
        fire_at(at, redis_client, celery_app, cron_settings)
    assert Records(redis_client).list() == []

    write(tmp_path / "tasks.yaml", TASKS)
    assert len(fire_at(at, redis_client, celery_app, cron_settings)) == 3


def test_fire_now_fires_the_current_slot_once(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings
) -> None:
    fired = cron.fire_now("nightly", redis_client, celery_app, cron_settings)
    assert len(fired) == 3 and cron.fire_now("nightly", redis_client, celery_app, cron_settings) == []


def test_an_unknown_schedule_name_is_an_error(
    redis_client: redis_lib.Redis, celery_app: Any, cron_settings: Settings
) -> None:
    with pytest.raises(LookupError, match="no schedule named 'weekly'"):
        fire_at(datetime.now(UTC), redis_client, celery_app, cron_settings, "weekly")
