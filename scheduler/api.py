"""A small HTTP enqueue API (stdlib ``ThreadingHTTPServer``: a handful of JSON routes need no
framework, and the scheduler stays free of extra dependencies).

    POST /runs               body: a task file (YAML or JSON)  -> 201 {"run_ids", "batch_id", "warnings"}
    GET  /batches/<id>                                          -> 200 {"batch_id", "runs": [...]}
    GET  /runs?state=S&limit=N                                  -> 200 {"runs": [...]}
    GET  /runs/<id>                                             -> 200 the run record
    POST /runs/<id>/cancel                                      -> 200 {"outcome": ...}
    GET  /approvals                                             -> 200 {"approvals": [...]}
    POST /runs/<id>/approve | /deny  body: {"note", "by"} (opt.) -> 200 the decided request; 409
    GET  /healthz                                               -> 200 {"ok": true} (no auth)
    GET  /metrics                                               -> 200 Prometheus text (runs, queue)

With ``NIGHTSHIFT_API_TOKEN`` set, every route but /healthz wants ``Authorization: Bearer <token>``.
Task files sent over HTTP may not name input ``files`` (the server must not read its own disk on a
caller's behalf); enqueue those with the CLI. Invalid input answers 400 with every problem.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import re
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import structlog
from celery import Celery
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from redis import Redis, RedisError

from core.catalog import catalog_for
from core.errors import ApprovalError, ConfigError, EnqueueError, RunNotFound
from core.metrics import FleetCollector
from core.records import Records
from core.settings import Settings
from core.states import Decision, run_state
from scheduler import approvals
from scheduler.enqueue import enqueue_batch
from scheduler.taskfile import Checks, load_text
from scheduler.yamlfile import InvalidFile

log = structlog.get_logger("nightshift.api")
Route = Callable[[str], tuple[HTTPStatus, dict[str, Any]]]
_RUN = re.compile(r"^/runs/([A-Za-z0-9_.-]+)$")
_BATCH = re.compile(r"^/batches/([A-Za-z0-9_.-]+)$")
_CANCEL = re.compile(r"^/runs/([A-Za-z0-9_.-]+)/cancel$")
_DECIDE = re.compile(r"^/runs/([A-Za-z0-9_.-]+)/(approve|deny)$")
_DECISIONS = {"approve": Decision.APPROVED, "deny": Decision.DENIED}


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        super().__init__(status.phrase)
        self.status = status
        self.body = body


class NightshiftServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], settings: Settings, redis: Redis, celery: Celery) -> None:
        super().__init__(address, Handler)
        self.settings = settings
        self.redis = redis
        self.records = Records(redis, settings.record_retention_s)
        self.celery = celery
        self.metrics = CollectorRegistry()
        self.metrics.register(FleetCollector(redis, settings))

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class Handler(BaseHTTPRequestHandler):
    server: NightshiftServer

    def do_GET(self) -> None:
        if urlsplit(self.path).path.rstrip("/") == "/metrics" and self._authorized("/metrics"):
            self._send_metrics()
            return
        self._answer(self._get)

    def _send_metrics(self) -> None:
        """Prometheus text format (prometheus-client): runs by state and verdict, queue depth."""
        payload = generate_latest(self.server.metrics)
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", CONTENT_TYPE_LATEST)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_POST(self) -> None:
        self._answer(self._post)

    def _get(self, path: str) -> tuple[HTTPStatus, dict[str, Any]]:
        if match := _RUN.match(path):
            return HTTPStatus.OK, self.server.records.get(match[1]).as_dict()
        if match := _BATCH.match(path):
            runs = self.server.records.batch(match[1])
            if not runs:
                raise ApiError(HTTPStatus.NOT_FOUND, {"error": f"no batch with id {match[1]}"})
            return HTTPStatus.OK, {"batch_id": match[1], "runs": [r.as_dict() for r in runs]}
        if path == "/approvals":
            return HTTPStatus.OK, {"approvals": [r.as_dict() for r in approvals.listing(self.server.redis)]}
        if path == "/runs":
            query = parse_qs(urlsplit(self.path).query)
            states = [run_state(s) for s in query.get("state", [])]  # an unknown one: 400
            limit = int(query.get("limit", ["50"])[0])
            found = self.server.records.list(states or None, limit=min(limit, 1000))
            return HTTPStatus.OK, {"runs": [r.as_dict() for r in found]}
        raise ApiError(HTTPStatus.NOT_FOUND, {"error": f"no route GET {path}"})

    def _post(self, path: str) -> tuple[HTTPStatus, dict[str, Any]]:
        if path == "/runs":
            return HTTPStatus.CREATED, self._enqueue(self._body())
        if match := _CANCEL.match(path):
            return HTTPStatus.OK, {"outcome": self.server.records.cancel(match[1])}
        if match := _DECIDE.match(path):
            return HTTPStatus.OK, self._decide(match[1], _DECISIONS[match[2]])
        raise ApiError(HTTPStatus.NOT_FOUND, {"error": f"no route POST {path}"})

    def _enqueue(self, text: str) -> dict[str, Any]:
        settings, redis = self.server.settings, self.server.redis
        catalog = catalog_for(settings, redis)
        checks = Checks(settings, check_secrets=settings.check_secrets, allow_files=False, catalog=catalog)
        tasks = load_text(text, "request body", None, checks)
        batch = enqueue_batch(tasks, redis, self.server.celery, settings, source="api")
        warnings = [w.as_dict() for t in tasks for w in t.warnings]
        return {"run_ids": batch.run_ids, "batch_id": batch.batch_id, "warnings": warnings}

    def _decide(self, run_id: str, decision: Decision) -> dict[str, Any]:
        body = approvals.decision_body(self._body())
        try:
            request = approvals.decide(self.server.redis, self.server.celery, self.server.settings, run_id,
                                       decision, by=body.get("by") or "api", note=body.get("note"))
        except ApprovalError as exc:
            raise ApiError(HTTPStatus.CONFLICT, {"error": str(exc)}) from exc
        return request.as_dict()

    def _body(self) -> str:
        size = int(self.headers.get("Content-Length") or 0)
        if size > self.server.settings.api_max_body_kb * 1024:
            raise ApiError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "request body too large"})
        try:
            return self.rfile.read(size).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "body is not UTF-8"}) from exc

    def _authorized(self, path: str) -> bool:
        token = self.server.settings.api_token
        if token is None or path == "/healthz":
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token.get_secret_value()}".encode())

    def _answer(self, route: Route) -> None:
        path = urlsplit(self.path).path.rstrip("/") or "/"
        try:
            status, body = self._route(route, path)
        except ApiError as exc:
            status, body = exc.status, exc.body
        self._send(status, body)

    def _route(self, route: Route, path: str) -> tuple[HTTPStatus, dict[str, Any]]:
        if not self._authorized(path):
            raise ApiError(HTTPStatus.UNAUTHORIZED, {"error": "missing or wrong bearer token"})
        if path == "/healthz":
            return HTTPStatus.OK, {"ok": True}
        try:
            result: tuple[HTTPStatus, dict[str, Any]] = route(path)
            return result
        except InvalidFile as exc:
            problems = [p.as_dict() for p in exc.problems]
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": "invalid task", "problems": problems}) from exc
        except RunNotFound as exc:
            raise ApiError(HTTPStatus.NOT_FOUND, {"error": f"no run with id {exc}"}) from exc
        except ValueError as exc:
            raise ApiError(HTTPStatus.BAD_REQUEST, {"error": str(exc)}) from exc
        except (EnqueueError, RedisError) as exc:
            log.error("api.backend_error", error=str(exc))
            raise ApiError(HTTPStatus.SERVICE_UNAVAILABLE, {"error": str(exc)}) from exc

    def _send(self, status: HTTPStatus, body: dict[str, Any]) -> None:
        payload = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("api.request", client=self.client_address[0], line=format % args)


def make_server(
    settings: Settings, redis: Redis, celery: Celery, host: str | None = None, port: int | None = None
) -> NightshiftServer:
    address = (host or settings.api_host, settings.api_port if port is None else port)
    if settings.api_token is None and not _loopback(address[0]):
        raise ConfigError(f"the API listens on {address[0]}: set NIGHTSHIFT_API_TOKEN (a bearer token) "
                          "or listen on loopback only")
    return NightshiftServer(address, settings, redis, celery)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def serve(
    settings: Settings, redis: Redis, celery: Celery, host: str | None = None, port: int | None = None
) -> None:
    server = make_server(settings, redis, celery, host, port)
    log.info("api.listening", url=server.url, auth=settings.api_token is not None)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def main() -> None:
    """``python -m scheduler.api`` (the Procfile's api process): settings from NIGHTSHIFT_*."""

    from core import broker, logs
    from core.settings import load_settings

    settings = load_settings()
    logs.configure(settings)
    serve(settings, broker.connect_redis(settings, broker.CLIENT_OUTAGE_S), broker.make_celery(settings))


if __name__ == "__main__":
    main()
