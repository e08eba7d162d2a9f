"""Setup steps before the agent (core/setup_steps.py): commands in the agent's bash session, and
``open``/``launch`` steps that start an application detached and return once its window is on
screen. Each step's output, exit status and duration go to the hooks (the transcript); the first
failing step fails the run with its output.
"""

from __future__ import annotations

import shlex
import time
from dataclasses import asdict, dataclass
from typing import Any

from core.errors import SandboxError, SetupFailed
from core.setup_steps import LaunchStep, OpenStep, SetupKind, SetupStep
from workers.hooks import Hooks
from workers.sandbox.sandbox import Sandbox

OUTPUT_MAX_CHARS = 4000
WINDOW_EXIT_TIMEOUT = 124
EXEC_MARGIN_S = 10.0

# Start the program in its own session (it outlives the step), its output to a log; then poll
# (every 0.1 s, in the sandbox) for a visible window whose title matches, or a new titled window.
_WINDOW_SCRIPT = """\
log=/tmp/nightshift-setup-{number}.log
before=$(xdotool search --onlyvisible --name . 2>/dev/null | sort)
( setsid sh -c {command} >"$log" 2>&1 < /dev/null & )
now_ms() {{ echo $(( $(date +%s%N) / 1000000 )); }}
start=$(now_ms); end=$(( start + {timeout_ms} ))
while :; do
  {find}
  if [ -n "$wid" ]; then
    echo "window $wid \\"$(xdotool getwindowname "$wid")\\" after $(( $(now_ms) - start )) ms"; exit 0
  fi
  if [ "$(now_ms)" -ge "$end" ]; then
    printf 'no window %s appeared within %s s; the program printed:\n' {wanted} {timeout_s}
    tail -c 2000 "$log"; exit {code}
  fi
  sleep 0.1
done
"""
_FIND_MATCHING = "wid=$(xdotool search --onlyvisible --name {regex} 2>/dev/null | head -1)"
_FIND_NEW = (
    "wid=$(xdotool search --onlyvisible --name . 2>/dev/null | sort"
    " | comm -13 <(printf '%s\\n' \"$before\") - | head -1)"
)


@dataclass(frozen=True)
class StepReport:
    number: int
    kind: SetupKind
    step: str
    ok: bool
    exit_status: int | None
    duration_ms: float
    output: str

    def failure(self) -> str:
        if self.kind == SetupKind.RUN:
            return f"setup command {self.number} failed: {self.output[-2000:]}"
        return f"setup step {self.number} ({self.step}) failed: {self.output[-2000:]}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "duration_ms": round(self.duration_ms, 1)}


def window_script(number: int, command: str, wait: OpenStep | LaunchStep) -> str:
    """The bash script of an ``open``/``launch`` step."""
    if wait.wait_for_window is None:
        find, wanted = _FIND_NEW, "(any new one)"
    else:
        find = _FIND_MATCHING.format(regex=shlex.quote(wait.wait_for_window))
        wanted = f"matching {wait.wait_for_window!r}"
    return _WINDOW_SCRIPT.format(
        number=number, command=shlex.quote(command), timeout_ms=int(wait.timeout_s * 1000),
        timeout_s=f"{wait.timeout_s:g}", find=find, wanted=shlex.quote(wanted), code=WINDOW_EXIT_TIMEOUT,
    )


def program_of(step: SetupStep) -> tuple[str, OpenStep | LaunchStep]:
    if step.open is not None:
        return f"exec xdg-open {shlex.quote(step.open.path)}", step.open
    assert step.launch is not None
    return f"exec {step.launch.command}", step.launch


def run_setup(sandbox: Sandbox, steps: list[SetupStep], bash_tool: str, hooks: Hooks) -> list[StepReport]:
    """Play every step in order; report each to the hooks; raise SetupFailed at the first failure."""
    reports = []
    for number, step in enumerate(steps, start=1):
        report = run_step(sandbox, number, step, bash_tool)
        hooks.on_setup_step(report.to_dict())
        reports.append(report)
        if not report.ok:
            raise SetupFailed(report.failure())
    return reports


def run_step(sandbox: Sandbox, number: int, step: SetupStep, bash_tool: str) -> StepReport:
    started = time.monotonic()
    if step.run is not None:
        ok, status, text = _command_step(sandbox, step.run, bash_tool)
    else:
        ok, status, text = _window_step(sandbox, number, step)
    elapsed_ms = (time.monotonic() - started) * 1000
    return StepReport(number, step.kind, step.describe(), ok, status, elapsed_ms, text[-OUTPUT_MAX_CHARS:])


def _command_step(sandbox: Sandbox, command: str, bash_tool: str) -> tuple[bool, int | None, str]:
    output = sandbox.call({"type": bash_tool, "name": "bash"}, {"command": command})
    return not output.is_error and output.exit_status == 0, output.exit_status, output.text


def _window_step(sandbox: Sandbox, number: int, step: SetupStep) -> tuple[bool, int | None, str]:
    command, wait = program_of(step)
    try:
        data = sandbox.exec(window_script(number, command, wait), wait.timeout_s + EXEC_MARGIN_S,
                            OUTPUT_MAX_CHARS)
    except SandboxError as exc:
        return False, None, str(exc)
    status = data.get("exit_code")
    return status == 0 and not data.get("timed_out"), status, str(data.get("output") or "").strip()
