"""The task spec: what one run should do. Unknown fields are errors, never ignored."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from core.setup_steps import SetupStep, regex, sandbox_path
from core.toolset import COMPUTER_MEMBERS

_DISPLAY = re.compile(r"^(\d{3,4})x(\d{3,4})$")
_SECRET_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_ALLOW = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*(:(?P<port>\d{{1,5}}))?$")
_HOST = re.compile(rf"^(\*\.)?{_LABEL}(\.{_LABEL})*$")  # a page's host (IP literals included)
DEFAULT_PORTS = (80, 443)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Budgets(_Strict):
    """Every budget is checked before each model request; no budget is overshot by more than one
    response. Token budgets are cumulative and count cache reads and writes."""

    # strict: `max_steps: true` or "10" is an error, never read as 1 or 10
    max_steps: int = Field(50, ge=1, le=10_000, strict=True)
    max_input_tokens: int | None = Field(None, ge=1, strict=True)
    max_output_tokens: int | None = Field(None, ge=1, strict=True)
    max_cost_usd: float | None = Field(None, gt=0, strict=True)
    max_wall_s: float = Field(1800, gt=0, le=86_400, strict=True)


class FileSpec(_Strict):
    src: str = Field(description="path on the enqueuing machine, relative to the task file")
    dest: str = Field(description="absolute path inside the sandbox")
    mode: int = Field(0o644, ge=0, le=0o777)

    @field_validator("dest")
    @classmethod
    def _absolute(cls, dest: str) -> str:
        return sandbox_path(dest, "dest")


class ScriptStep(_Strict):
    """One tool call played by the script agent, exactly as a model would have sent it."""

    name: str
    input: dict[str, Any] = Field(default_factory=dict)
    toolset_name: str | None = None


class CheckSpec(_Strict):
    """A command run in the sandbox after the agent (and after the outputs are collected): exit 0
    passes. ``timeout_s`` None: the settings' ``check_timeout_s``."""

    name: str = Field(min_length=1, max_length=100)
    run: str = Field(min_length=1)
    timeout_s: float | None = Field(None, gt=0, le=3600)


class Thinking(_Strict):
    """What the task asks for; core/thinking.py checks it against the model (and translates it
    where the API documents how)."""

    type: Literal["off", "enabled", "adaptive"] = "off"
    budget_tokens: int | None = Field(None, ge=1024)
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    display: Literal["summarized", "omitted"] | None = None

    @model_validator(mode="after")
    def _budget_only_when_enabled(self) -> Thinking:
        if self.budget_tokens is not None and self.type != "enabled":
            raise ValueError("budget_tokens goes with type: enabled (adaptive thinking takes an effort)")
        return self


class ComputerOptions(_Strict):
    """The computer tool's members (or a dated version's actions) this task switches off."""

    disable: list[str] = Field(default_factory=list, description="e.g. [zoom]: ~410 input tokens a request")

    @field_validator("disable")
    @classmethod
    def _members(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in COMPUTER_MEMBERS]
        if unknown:
            raise ValueError(f"unknown computer member {unknown[0]!r}; known: {', '.join(COMPUTER_MEMBERS)}")
        return names


class ApprovalOptions(_Strict):
    """How a run that asks a human for approval waits (issue 13), and the task's policy.

    Policy: ask before the keyboard members in ``before`` (the confirm hook) while the focused
    window's title matches ``when_title`` or the browser's address matches ``when_url`` (regexes;
    neither given: always). And ask before every action that can submit a form (Return or Enter,
    a typed newline, a click) while the browser shows a page on a host in ``submit_on`` (``host``,
    or ``*.domain`` for its subdomains, as in ``network.allow``)."""

    timeout_s: float | None = Field(
        None, gt=0, le=30 * 86_400, description="no decision by then: failed (None: the settings')")
    count_wall_while_paused: bool = Field(False, description="max_wall_s keeps counting while it waits")
    before: list[Literal["type", "key", "hold_key"]] = Field(default_factory=list)
    when_title: str | None = Field(None, max_length=500)
    when_url: str | None = Field(None, max_length=500)
    submit_on: list[str] = Field(default_factory=list, max_length=200)

    @field_validator("when_title", "when_url")
    @classmethod
    def _pattern(cls, pattern: str | None, info: ValidationInfo) -> str | None:
        return regex(pattern, str(info.field_name))

    @field_validator("submit_on")
    @classmethod
    def _hosts(cls, hosts: list[str]) -> list[str]:
        for host in hosts:
            if not _HOST.match(host.lower()):
                raise ValueError(f"submit_on: {host!r} is not a host name or '*.' + a domain (no port)")
        return [host.lower() for host in hosts]

    @property
    def asks(self) -> bool:
        """Whether the policy can hold any call at all."""
        return bool(self.before or self.submit_on)

    @model_validator(mode="after")
    def _patterns_need_members(self) -> ApprovalOptions:
        for name in ("when_title", "when_url"):
            if getattr(self, name) is not None and not self.before:
                raise ValueError(f"{name} needs `before`: the keyboard members to ask approval for")
        return self


class EgressRule(_Strict):
    """One allowed destination: a host (``*.`` for any subdomain) and the ports it may be reached on."""

    host: str
    ports: tuple[int, ...] = DEFAULT_PORTS  # the proxy's helper (egress_image/) matches requests


class NetworkAllow(_Strict):
    """``network: {allow: ["*.wikipedia.org", "staging.example.com:443"]}``: the sandbox reaches
    these hosts (HTTP and HTTPS, through the fleet's egress proxy) and nothing else. A host without
    a port allows 80 and 443; ``*.example.com`` allows every subdomain of example.com, not
    example.com itself. IP literals are refused: the proxy resolves names, the sandbox never does."""

    allow: list[str] = Field(min_length=1, max_length=200)

    @field_validator("allow")
    @classmethod
    def _patterns(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _rule(pattern)
        return [pattern.lower() for pattern in patterns]

    def rules(self) -> list[EgressRule]:
        return [_rule(pattern) for pattern in self.allow]


def _rule(pattern: str) -> EgressRule:
    host, _, port = pattern.lower().partition(":")
    if pattern.startswith("[") or _is_ip(host) or _is_ip(pattern):
        raise ValueError(f"{pattern!r}: IP addresses cannot be allowed, only host names")
    match = _ALLOW.match(pattern.lower())
    if not match or "." not in host:
        raise ValueError(f"{pattern!r} is not a host name, '*.' + a domain, optionally with ':port'")
    if port and not 1 <= int(port) <= 65535:
        raise ValueError(f"{pattern!r}: port must be between 1 and 65535")
    return EgressRule(host=host, ports=(int(port),) if port else DEFAULT_PORTS)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


class TaskSpec(_Strict):
    name: str = Field(min_length=1, max_length=200)
    agent: Literal["claude", "script"] = "claude"
    model: str | None = None
    tools: str | None = Field(None, description="tool group, e.g. computer_use_20250124")
    computer: ComputerOptions = Field(default_factory=lambda: ComputerOptions.model_validate({}))
    display: str = "1024x768"
    prompt: str | None = None
    system_prompt_suffix: str = ""
    max_tokens: int | None = Field(None, ge=1, le=128_000)
    thinking: Thinking | None = None
    budgets: Budgets = Field(default_factory=lambda: Budgets.model_validate({}))
    network: Literal["none", "internet"] | NetworkAllow = "none"
    image: str | None = None
    files: list[FileSpec] = Field(default_factory=list)
    setup: list[SetupStep] = Field(default_factory=list, description="commands, open and launch steps")
    output_schema: dict[str, Any] | None = None
    secrets: list[str] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    priority: int = Field(5, ge=0, le=9)
    steps: list[ScriptStep] = Field(default_factory=list)
    outputs: list[str] = Field(default_factory=list, description="absolute paths or globs to collect")
    checks: list[CheckSpec] = Field(default_factory=list)
    approval: ApprovalOptions = Field(default_factory=lambda: ApprovalOptions.model_validate({}))

    @field_validator("network", mode="before")
    @classmethod
    def _network(cls, network: Any) -> Any:
        """One clear error per field (rather than one per shape the union could have taken)."""
        if isinstance(network, dict | NetworkAllow):
            return NetworkAllow.model_validate(network)
        if network not in ("none", "internet"):
            raise ValueError("network must be none, internet or {allow: [host, ...]}")
        return network

    @field_validator("display")
    @classmethod
    def _display(cls, display: str) -> str:
        match = _DISPLAY.match(display)
        if not match:
            raise ValueError("display must look like 1024x768")
        width, height = int(match[1]), int(match[2])
        if not (640 <= width <= 4096 and 480 <= height <= 2160):
            raise ValueError("display must be between 640x480 and 4096x2160")
        return display

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, names: list[str]) -> list[str]:
        for name in names:
            if not _SECRET_NAME.match(name):
                raise ValueError(f"secret name {name!r} is not an environment variable name")
        return names

    @field_validator("outputs")
    @classmethod
    def _output_paths(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            if not pattern.startswith("/") or "/../" in f"{pattern}/":
                raise ValueError(f"output {pattern!r} must be an absolute path or glob without '..'")
        return patterns

    @field_validator("checks")
    @classmethod
    def _unique_check_names(cls, checks: list[CheckSpec]) -> list[CheckSpec]:
        names = [check.name for check in checks]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"check names must be unique; repeated: {', '.join(repeated)}")
        return checks

    @model_validator(mode="after")
    def _agent_fields(self) -> TaskSpec:
        if self.agent == "script":
            if not self.steps:
                raise ValueError("agent: script needs a non-empty steps list")
            if self.prompt:
                raise ValueError("agent: script takes steps, not a prompt")
        else:
            if not self.prompt:
                raise ValueError("agent: claude needs a prompt")
            if self.steps:
                raise ValueError("steps are only for agent: script")
        return self

    @property
    def network_mode(self) -> str:
        """``none``, ``internet`` or ``allowlist``."""
        return self.network if isinstance(self.network, str) else "allowlist"

    @property
    def display_size(self) -> tuple[int, int]:
        width, height = self.display.split("x")
        return int(width), int(height)
