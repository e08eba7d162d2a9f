"""Thin Celery tasks: take ids, call a plain function, return a small result."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from celery import Celery, Task

from core.broker import CHECK_SCHEDULES_TASK, REFRESH_MODELS_TASK, REPORT_TASK
from core.settings import Settings
from workers.runtime import Runtime


def register_tasks(app: Celery, settings: Settings) -> None:
    class RuntimeTask(Task[Any, Any]):
        """Builds the process's clients on first use (after the prefork pool forked, never at
        import)."""

        @cached_property
        def runtime(self) -> Runtime:
            return Runtime.build(settings)

    @app.task(name="nightshift.run", base=RuntimeTask, bind=True)
    def run(self: RuntimeTask, run_id: str) -> dict[str, Any]:
        from workers.runner import LeaseBusy, RetryRun, execute_run

        try:
            return execute_run(run_id, self.runtime)
        except RetryRun as exc:  # Celery's own retry: a new message, this one is acked
            raise self.retry(exc=exc.cause, countdown=exc.countdown_s, max_retries=None) from exc
        except LeaseBusy as exc:  # a dead holder's lease expires: then this delivery resumes the run
            raise self.retry(exc=exc, countdown=exc.countdown_s, max_retries=None) from exc

    @app.task(name="nightshift.reap", base=RuntimeTask, bind=True, ignore_result=True)
    def reap(self: RuntimeTask) -> dict[str, int]:
        from workers.fleet.reaper import reap_once

        return reap_once(self.runtime, app)

    @app.task(name=REPORT_TASK, base=RuntimeTask, bind=True, ignore_result=True)
    def report(self: RuntimeTask, run_id: str) -> None:
        from workers.artifacts.rerender import rerender_run

        rerender_run(self.runtime.records, self.runtime.store, run_id)

    @app.task(name=REFRESH_MODELS_TASK, base=RuntimeTask, bind=True, ignore_result=True)
    def refresh_models(self: RuntimeTask) -> int | None:
        return self.runtime.refresh_catalog()

    @app.task(name=CHECK_SCHEDULES_TASK, base=RuntimeTask, bind=True, ignore_result=True)
    def check_schedules(self: RuntimeTask) -> int:
        from scheduler.cron import check_schedules as check

        return len(check(self.runtime.settings, self.runtime.catalog()))

    @app.task(name="nightshift.fire_schedule", base=RuntimeTask, bind=True)
    def fire_schedule(self: RuntimeTask, schedule_name: str) -> list[str]:
        from scheduler.cron import fire_now

        return fire_now(schedule_name, self.runtime.redis, app, self.runtime.settings)
