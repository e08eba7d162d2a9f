"""Checks run in the sandbox after the outputs are collected: each a command with a timeout, exit 0
passes. Their results (name, exit code, duration, the tail of their output, secrets redacted) go
into result.json and the run record, and give the run its verdict."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import structlog

from core.errors import SandboxError, SandboxGoneError
from core.redact import Redactor
from core.settings import Settings
from core.spec import CheckSpec
from core.states import Verdict
from workers.sandbox.sandbox import Sandbox

MIN_TIMEOUT_S = 1.0
log = structlog.get_logger("nightshift.checks")


class CheckRunner:
    def __init__(self, sandbox: Sandbox, settings: Settings, deadline: float, secrets: Iterable[str]) -> None:
        self.sandbox = sandbox
        self.settings = settings
        self.deadline = deadline
        self.redactor = Redactor(secrets)

    def run_all(self, checks: list[CheckSpec]) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = []
        for check in checks:
            skipped = self._why_not(results)
            results.append(self.redactor.deep(skipped_check(check, skipped)) if skipped else self._run(check))
        return results

    def _why_not(self, done: list[dict[str, Any]]) -> str | None:
        if any(r.get("sandbox_gone") for r in done):
            return "the sandbox is gone"
        if self.deadline - time.monotonic() < MIN_TIMEOUT_S:
            return "no time left after the agent (after_agent_max_s)"
        return None

    def _run(self, check: CheckSpec) -> dict[str, Any]:
        timeout_s = min(check.timeout_s or self.settings.check_timeout_s, self.deadline - time.monotonic())
        base = {"name": check.name, "run": self.redactor.text(check.run), "timeout_s": round(timeout_s, 3)}
        try:
            data = self.sandbox.exec(check.run, timeout_s, self.settings.check_output_max_chars)
        except SandboxError as exc:
            gone = isinstance(exc, SandboxGoneError)
            return {**base, "passed": False, "exit_code": None, "error": self.redactor.text(str(exc)),
                    "sandbox_gone": gone}
        result = {**base, **_reported(data, self.settings.check_output_max_chars)}
        result["output"] = self.redactor.text(result["output"])
        log.info("check finished", check=check.name, passed=result["passed"], exit_code=result["exit_code"])
        return result


def _reported(data: dict[str, Any], max_chars: int) -> dict[str, Any]:
    exit_code = data.get("exit_code")
    return {
        "passed": exit_code == 0 and not data.get("timed_out"),
        "exit_code": exit_code,
        "timed_out": bool(data.get("timed_out")),
        "duration_s": data.get("duration_s"),
        "output": str(data.get("output") or "")[-max_chars:],
        "output_bytes": data.get("output_bytes"),
    }


def skipped_check(check: CheckSpec, reason: str) -> dict[str, Any]:
    return {"name": check.name, "run": check.run, "passed": False, "exit_code": None, "skipped": reason}


def verdict(results: list[dict[str, Any]]) -> Verdict | None:
    """``passed`` when every check ran and passed; ``failed`` when one failed or could not finish;
    None when there are no checks or none of them ran."""
    if not results or all(r.get("skipped") for r in results):
        return None
    return Verdict.PASSED if all(r.get("passed") for r in results) else Verdict.FAILED
