"""The ``nightshift`` command: enqueue, run --wait, status, list, show, cancel, validate, models,
approvals, approve, deny, api.

Safe for system cron: it never needs a TTY, prints results on stdout and problems on stderr, and
exits non-zero on any error. Settings come from NIGHTSHIFT_* variables; clients are built once.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import redis as redis_lib
from celery import Celery

from core import broker, events, logs
from core.catalog import Catalog, catalog_for
from core.errors import ApprovalError, EnqueueError, RunNotFound
from core.events import EventType
from core.records import CANCEL_REASON, CancelOutcome, Records, RunRecord
from core.settings import Settings, load_settings
from core.states import Decision, RunState, Verdict
from scheduler import approvals, catalogview, junit, morning, present
from scheduler.enqueue import Batch, enqueue_batch
from scheduler.follow import await_event, follow
from scheduler.taskfile import Checks, LoadedTask, load_files
from scheduler.yamlfile import InvalidFile

OK, FAILED = 0, 1


@dataclass
class Context:
    settings: Settings

    @cached_property
    def redis(self) -> redis_lib.Redis:
        return broker.connect_redis(self.settings, broker.CLIENT_OUTAGE_S)

    @cached_property
    def records(self) -> Records:
        return Records(self.redis, self.settings.record_retention_s)

    @cached_property
    def celery(self) -> Celery:
        return broker.make_celery(self.settings)

    @cached_property
    def catalog(self) -> Catalog:
        """Built-in rows under the workers' cached Models API answer (when Redis answers)."""
        return catalog_for(self.settings, self.redis)


def out(line: str) -> None:
    print(line, flush=True)


def err(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


class NoTasks(Exception):
    """Every task was filtered out (``--agent``)."""


def _load(args: argparse.Namespace, ctx: Context) -> list[LoadedTask]:
    """Every task of every file validated; then only those of ``--agent``, when given."""
    check = ctx.settings.check_secrets and not args.no_check_secrets
    tasks = load_files(args.files, Checks(ctx.settings, check_secrets=check, catalog=ctx.catalog))
    for task in tasks:
        for warning in task.warnings:
            err(f"warning: {warning}")
    if args.agent is None:
        return tasks
    chosen = [t for t in tasks if t.spec.agent == args.agent]
    if len(chosen) < len(tasks):
        err(f"--agent {args.agent}: skipping {len(tasks) - len(chosen)} other task(s)")
    if not chosen:
        raise NoTasks(f"no task with agent: {args.agent}")
    return chosen


def cmd_validate(args: argparse.Namespace, ctx: Context) -> int:
    tasks = _load(args, ctx)
    out(f"ok: {len(tasks)} task(s) in {len(args.files)} file(s)")
    return OK


def cmd_enqueue(args: argparse.Namespace, ctx: Context) -> int:
    batch = _enqueue(args, ctx)
    err(f"batch {batch.batch_id}")  # stdout stays one run id per line
    for run_id in batch.run_ids:
        out(run_id)
    return OK


def _enqueue(args: argparse.Namespace, ctx: Context) -> Batch:
    tasks = _load(args, ctx)  # every file validated before anything is recorded or sent
    return enqueue_batch(tasks, ctx.redis, ctx.celery, ctx.settings)


def cmd_run(args: argparse.Namespace, ctx: Context) -> int:
    batch = _enqueue(args, ctx)
    out(f"batch {batch.batch_id}")
    for run_id in batch.run_ids:
        out(f"enqueued {run_id}")
    if not args.wait:
        return OK
    final = follow(ctx.redis, batch.run_ids, out, timeout_s=args.timeout)
    for record in final:
        out(present.outcome_line(record))
    unfinished = [r.run_id for r in final if not r.terminal]
    if unfinished:
        err(f"timed out waiting for: {' '.join(unfinished)}")
    if args.junit:
        junit.write(args.junit, batch.batch_id, final)
        out(f"junit: {args.junit}")
    return OK if all(_passed(r) for r in final) else FAILED


def _passed(record: RunRecord) -> bool:
    """Succeeded, and no failing verdict."""
    return record.state == RunState.SUCCEEDED and record.verdict != Verdict.FAILED


def _batch(ctx: Context, batch_id: str) -> list[RunRecord]:
    records = ctx.records.batch(batch_id)
    if not records:
        raise RunNotFound(f"batch {batch_id}")
    return records


def cmd_batch(args: argparse.Namespace, ctx: Context) -> int:
    if args.batch is None:
        for batch_id in ctx.records.batches(limit=args.limit):
            out(batch_id)
        return OK
    records = _batch(ctx, args.batch)
    as_json = json.dumps([r.as_dict() for r in records], default=str)
    out(as_json if args.json else morning.batch_table(records))
    return OK


def cmd_junit(args: argparse.Namespace, ctx: Context) -> int:
    junit.write(args.out, args.batch, _batch(ctx, args.batch))
    out(f"junit: {args.out}")
    return OK


def cmd_report(args: argparse.Namespace, ctx: Context) -> int:
    """A worker renders the run's report.html again from its stored artifacts (workers hold the
    store's credentials); this waits for its word on the run's event stream."""
    ctx.records.get(args.run)  # an unknown run is a clear error before anything is sent
    cursor = events.last_id(ctx.redis, args.run)
    ctx.celery.send_task(broker.REPORT_TASK, args=[args.run], queue=ctx.settings.queue_name)
    done = await_event(ctx.redis, args.run, EventType.REPORT_RENDERED, cursor, args.timeout)
    if done is None:
        err(f"{args.run}: no worker rendered the report within {args.timeout:.0f} s (is a worker running?)")
        return FAILED
    if done.get("error"):
        err(f"{args.run}: the report could not be rendered: {done['error']}")
        return FAILED
    out(f"report: {done['url']}")
    return OK


def cmd_summary(args: argparse.Namespace, ctx: Context) -> int:
    since = time.time() - morning.span_s(args.since)
    out(morning.summary(ctx.records.since(since), since))
    return OK


def cmd_status(args: argparse.Namespace, ctx: Context) -> int:
    if args.run:
        out(present.status_line(ctx.records.get(args.run)))
        return OK
    out(present.counts(ctx.records.count_by_state(), broker.queue_depth(ctx.redis, ctx.settings)))
    return OK


def cmd_list(args: argparse.Namespace, ctx: Context) -> int:
    """One page of runs, newest first; a full page names the command for the next one (stderr)."""
    states = None if args.state is None else [RunState(args.state)]
    found = ctx.records.list(states, limit=args.limit, before=args.before)
    if args.json:
        out(json.dumps([r.as_dict() for r in found], default=str))
    else:
        out(present.table(found))
    if found and len(found) == args.limit:
        err(f"next page: nightshift list --limit {args.limit} --before {found[-1].created_at!r}")
    return OK


def cmd_show(args: argparse.Namespace, ctx: Context) -> int:
    record = ctx.records.get(args.run)
    out(json.dumps(record.as_dict(), indent=2, default=str) if args.json else present.details(record))
    return OK


def cmd_cancel(args: argparse.Namespace, ctx: Context) -> int:
    outcome = ctx.records.cancel(args.run, reason=args.reason)
    messages = {
        CancelOutcome.CANCELLED: f"{args.run}: cancelled (it had not started)",
        CancelOutcome.REQUESTED: f"{args.run}: cancel requested; its worker stops the sandbox and records it",
        CancelOutcome.FINISHED: f"{args.run}: already finished ({ctx.records.get(args.run).state})",
    }
    out(messages[outcome])
    return OK


def cmd_approvals(args: argparse.Namespace, ctx: Context) -> int:
    pending = approvals.listing(ctx.redis, args.limit)
    out(approvals.as_json(pending) if args.json else approvals.table(pending))
    return OK


def cmd_approve(args: argparse.Namespace, ctx: Context) -> int:
    return _decide(args, ctx, Decision.APPROVED)


def cmd_deny(args: argparse.Namespace, ctx: Context) -> int:
    return _decide(args, ctx, Decision.DENIED)


def _decide(args: argparse.Namespace, ctx: Context, decision: Decision) -> int:
    request = approvals.decide(ctx.redis, ctx.celery, ctx.settings, args.run, decision,
                               by=args.by, note=args.note)
    out(f"{args.run}: {decision} by {request.decided_by}; sent to {request.host} to go on")
    return OK


def cmd_models(args: argparse.Namespace, ctx: Context) -> int:
    rows = ctx.catalog.listing()
    if not args.all:
        rows = [r for r in rows if r.alias_of is None]
    out(catalogview.as_json(rows) if args.json else catalogview.table(rows))
    return OK


def cmd_api(args: argparse.Namespace, ctx: Context) -> int:
    from scheduler.api import serve  # only this command needs the HTTP server

    serve(ctx.settings, ctx.redis, ctx.celery, host=args.host, port=args.port)
    return OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightshift",
        description="Enqueue and follow batches of Claude computer-use runs.",
        epilog="Settings come from NIGHTSHIFT_* environment variables (e.g. NIGHTSHIFT_REDIS_URL).",
    )
    parser.add_argument("--redis-url", help="overrides NIGHTSHIFT_REDIS_URL")
    sub = parser.add_subparsers(dest="command", required=True)
    _add(sub, "validate", cmd_validate, "check task files; enqueue nothing", files=True)
    _add(sub, "enqueue", cmd_enqueue, "enqueue task files; print one run id per line", files=True)
    run = _add(sub, "run", cmd_run, "enqueue, then follow the runs with --wait", files=True)
    run.add_argument("--wait", action="store_true", help="follow progress; exit 0 only if all succeeded")
    run.add_argument("--timeout", type=float, default=None, help="stop waiting after this many seconds")
    run.add_argument("--junit", metavar="OUT.xml", help="with --wait: write the batch as JUnit XML")
    batch = _add(sub, "batch", cmd_batch, "a batch's runs, verdicts, cost, duration; no id: recent batches")
    batch.add_argument("batch", nargs="?")
    batch.add_argument("--json", action="store_true")
    batch.add_argument("--limit", type=int, default=20)
    junit_cmd = _add(sub, "junit", cmd_junit, "write a batch as JUnit XML")
    junit_cmd.add_argument("batch")
    junit_cmd.add_argument("out", metavar="OUT.xml")
    report = _add(sub, "report", cmd_report, "render a run's report.html again from its stored artifacts")
    report.add_argument("run")
    report.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for a worker")
    summary = _add(sub, "summary", cmd_summary, "runs by state and verdict, failures, cost, slowest")
    summary.add_argument("--since", default="12h", help="a time span: 30m, 12h, 2d (default 12h)")
    status = _add(sub, "status", cmd_status, "one run's state, or counts of all runs")
    status.add_argument("run", nargs="?")
    listing = _add(sub, "list", cmd_list, "runs, newest first")
    listing.add_argument("--state", choices=[s.value for s in RunState])
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--before", type=float, help="runs created before this (epoch s)")
    listing.add_argument("--json", action="store_true")
    show = _add(sub, "show", cmd_show, "result, stop reason, usage, cost and artifacts of a run")
    show.add_argument("run")
    show.add_argument("--json", action="store_true")
    cancel = _add(sub, "cancel", cmd_cancel, "cancel a queued or running run")
    cancel.add_argument("run")
    cancel.add_argument("--reason", default=CANCEL_REASON)
    pending = _add(sub, "approvals", cmd_approvals, "runs waiting for a human's approval")
    pending.add_argument("--json", action="store_true")
    pending.add_argument("--limit", type=int, default=100)
    for name, handler, verb in (("approve", cmd_approve, "let"), ("deny", cmd_deny, "do not let")):
        decide = _add(sub, name, handler, f"{verb} a waiting run go ahead; it resumes on its machine")
        decide.add_argument("run")
        decide.add_argument("--note", default=None, help="given to the run with the decision")
        decide.add_argument("--by", default=None, help="who decides (default: your login name)")
    models = _add(sub, "models", cmd_models, "the model catalog: tools, thinking, prices, lifecycle")
    models.add_argument("--all", action="store_true", help="also list dated ids and aliases")
    models.add_argument("--json", action="store_true")
    api = _add(sub, "api", cmd_api, "serve the HTTP enqueue API")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    return parser


def _add(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    handler: Callable[[argparse.Namespace, Context], int],
    help_text: str,
    files: bool = False,
) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, help=help_text, description=help_text)
    parser.set_defaults(handler=handler)
    if files:
        parser.add_argument("files", nargs="+", metavar="FILE")
        parser.add_argument(
            "--agent", choices=("script", "claude"), help="only the tasks of this agent (all are validated)"
        )
        parser.add_argument(
            "--no-check-secrets",
            action="store_true",
            help="do not require the tasks' secrets here (the workers' environment has them)",
        )
    return parser


def _redacted(url: str) -> str:
    return re.sub(r"//[^@/]*@", "//***@", url)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    overrides = {"redis_url": args.redis_url} if args.redis_url else {}
    settings = load_settings(**overrides)
    logs.configure(settings)
    ctx = Context(settings)
    try:
        return int(args.handler(args, ctx))
    except InvalidFile as exc:
        err(f"{exc}\nnothing was enqueued")
    except RunNotFound as exc:
        err(f"no run with id {exc}" if not str(exc).startswith("batch ") else f"no {exc}")
    except ValueError as exc:  # a bad --since
        err(str(exc))
    except ApprovalError as exc:
        err(str(exc))
    except NoTasks as exc:
        err(f"{exc}; nothing was enqueued")
    except EnqueueError as exc:
        err(f"{exc}; run {exc.failed} recorded as failed; enqueued before it: {' '.join(exc.run_ids) or '-'}")
    except redis_lib.RedisError as exc:
        err(f"Redis at {_redacted(settings.redis_url)}: {exc}")
    except KeyboardInterrupt:
        err("interrupted (runs keep going; see nightshift status)")
    return FAILED


if __name__ == "__main__":
    sys.exit(main())
