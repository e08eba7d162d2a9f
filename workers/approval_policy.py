"""A task's approval policy as a ``confirm`` hook: before the keyboard members it names (``type``,
``key``, ``hold_key``), when the focused window's title matches its pattern, the run pauses for a
human's approval (``AwaitApproval``) instead of typing. Approved, the pending call runs; denied, it
is refused in the SDK's words."""

from __future__ import annotations

import re
from typing import Any

from core.spec import ApprovalOptions
from workers.agent.approval import CONFIRM, Asked, AwaitApproval
from workers.agent.toolgate import computer_action
from workers.hooks import Hooks
from workers.sandbox.sandbox import Sandbox

TITLE = "DISPLAY=:1 xdotool getactivewindow getwindowname 2>/dev/null"
SHOWN = 200  # characters of the typed text shown to the approver


class ApprovalPolicy(Hooks):
    def __init__(self, options: ApprovalOptions, sandbox: Sandbox) -> None:
        self.members = frozenset(options.before)
        self.pattern = re.compile(options.when_title) if options.when_title is not None else None
        self.sandbox = sandbox

    def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
        action = computer_action(tool_use)
        if action not in self.members:
            return True
        title = self._title()
        if self.pattern is not None and not self.pattern.search(title):
            return True
        raise AwaitApproval(self._asked(action, tool_use, title), tool_use, step, {"kind": CONFIRM})

    def _title(self) -> str:
        """The focused window's title ('' when none has focus or it cannot be read)."""
        done = self.sandbox.exec(TITLE, timeout_s=10, max_output_bytes=4096)
        return str(done.get("output") or "").strip() if done.get("exit_code") == 0 else ""

    @staticmethod
    def _asked(action: str, tool_use: dict[str, Any], title: str) -> Asked:
        tool_input = tool_use.get("input") if isinstance(tool_use.get("input"), dict) else {}
        text = str((tool_input or {}).get("text", ""))[:SHOWN]
        where = f" in the window {title!r}" if title else ""
        why = "the task's approval policy asks before keyboard input here"
        return Asked(f"{action} {text!r}{where}", why)
