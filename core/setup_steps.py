"""Setup steps of a task: what runs in the sandbox before the agent's first step.

A step is a bash command (a plain string, or ``run: ...``), or opens a file with its default
application (``open: {path, wait_for_window, timeout_s}``), or starts a program
(``launch: {command, wait_for_window, timeout_s}``). ``open`` and ``launch`` return once a visible
window whose title matches ``wait_for_window`` (a POSIX extended regular expression, case-insensitive,
as xdotool matches it) is on screen; without it, once any new visible window appears.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DEFAULT_WINDOW_TIMEOUT_S = 60.0


class SetupKind(StrEnum):
    RUN = "run"
    OPEN = "open"
    LAUNCH = "launch"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _WindowWait(_Strict):
    wait_for_window: str | None = Field(None, min_length=1, max_length=500)
    timeout_s: float = Field(DEFAULT_WINDOW_TIMEOUT_S, gt=0, le=600)

    @field_validator("wait_for_window")
    @classmethod
    def _regex(cls, pattern: str | None) -> str | None:
        return regex(pattern, "wait_for_window")


def regex(pattern: str | None, field: str) -> str | None:
    """A pattern that compiles (or none): a task file's mistake is named at validation, not at run time."""
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{field} is not a valid regular expression: {exc}") from None
    return pattern


def sandbox_path(value: str, field: str) -> str:
    """A path inside the sandbox: absolute, and no '..' that could climb out of where it says."""
    if not value.startswith("/") or "/../" in f"{value}/":
        raise ValueError(f"{field} must be an absolute path without '..'")
    return value


class OpenStep(_WindowWait):
    path: str = Field(min_length=2, description="absolute path in the sandbox, opened with its default app")

    @field_validator("path")
    @classmethod
    def _absolute(cls, path: str) -> str:
        return sandbox_path(path, "path")


class LaunchStep(_WindowWait):
    command: str = Field(min_length=1, description="a shell command line, started detached")


class SetupStep(_Strict):
    """Exactly one of ``run``, ``open``, ``launch``; a plain string means ``run``."""

    run: str | None = Field(None, min_length=1)
    open: OpenStep | None = None
    launch: LaunchStep | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain_command(cls, raw: Any) -> Any:
        return {"run": raw} if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _exactly_one(self) -> SetupStep:
        given = [kind for kind in SetupKind if getattr(self, kind) is not None]
        if len(given) != 1:
            raise ValueError("a setup step is a command, or a mapping with exactly one of run, open, launch")
        return self

    @property
    def kind(self) -> SetupKind:
        return next(kind for kind in SetupKind if getattr(self, kind) is not None)

    def describe(self) -> str:
        """One line naming the step, for logs, the transcript and errors."""
        if self.open is not None:
            return f"open {self.open.path}"
        if self.launch is not None:
            return f"launch {self.launch.command}"
        return str(self.run)
