"""A task's approval policy (``approval:`` in the task file) as hooks: where it holds a call, the run
pauses for a human's approval (``AwaitApproval``). Approved, the held call runs; denied, it is
refused in the SDK's words.

- ``confirm`` (keyboard members: ``type``, ``key``, ``hold_key``): the members in ``before``, while
  the focused window's title matches ``when_title`` or the browser's address matches ``when_url``
  (neither given: always).
- ``gate`` (every computer action): an action that can submit a form while the browser shows a page
  on a host listed in ``submit_on``. Which control a click lands on is not known to the worker, so
  on a listed host every click asks, as do Return/Enter/space and typed newlines; actions that
  cannot submit (moves, scrolls, screenshots, other keys) never do.

What the user is looking at comes from the executor's ``page`` op (sandbox_image/executor/page.py:
the focused window, and the address from Firefox's session store once the last input has settled).
A page that cannot be read where it matters asks rather than lets the action through.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from core.spec import ApprovalOptions
from workers.agent.approval import CONFIRM, Asked, AwaitApproval
from workers.agent.toolgate import computer_action
from workers.hooks import Hooks
from workers.sandbox.sandbox import Page, Sandbox

SHOWN = 200  # characters of the typed text shown to the approver
SUBMIT_CLICKS = frozenset({"left_click", "double_click", "triple_click", "left_mouse_up"})
SUBMIT_KEYS = frozenset({"return", "enter", "kp_enter", "iso_enter", "space", "kp_space"})
KEY_MEMBERS = frozenset({"key", "hold_key"})
NEWLINES = ("\n", "\r")


def host_listed(url: str | None, hosts: list[str]) -> bool:
    """Whether ``url``'s host is one of ``hosts`` (``*.domain``: any subdomain of the domain)."""
    host = (urlsplit(url).hostname or "") if url else ""
    return bool(host) and any(_host_matches(host, pattern) for pattern in hosts)


def _host_matches(host: str, pattern: str) -> bool:
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def can_submit(action: str | None, tool_input: dict[str, Any]) -> bool:
    """Whether ``action`` could submit a form on the page it lands on."""
    if action in SUBMIT_CLICKS:
        return True
    text = str(tool_input.get("text") or "")
    if action == "type":
        return any(newline in text for newline in NEWLINES)
    if action in KEY_MEMBERS:
        return any(part.lower() in SUBMIT_KEYS for chord in text.split() for part in chord.split("+"))
    return False


class ApprovalPolicy(Hooks):
    def __init__(self, options: ApprovalOptions, sandbox: Sandbox, settle_s: float) -> None:
        self.members = frozenset(options.before)
        self.title = re.compile(options.when_title) if options.when_title is not None else None
        self.url = re.compile(options.when_url) if options.when_url is not None else None
        self.submit_on = list(options.submit_on)
        self.sandbox = sandbox
        self.settle_s = settle_s

    def confirm(self, step: int, tool_use: dict[str, Any]) -> bool:
        action = computer_action(tool_use)
        if action not in self.members:
            return True
        page = self._page(needs_url=self.url is not None)
        if not self._matches(page):
            return True
        why = "the task's approval policy asks before keyboard input here"
        raise AwaitApproval(_asked(action, tool_use, page, why), tool_use, step, {"kind": CONFIRM})

    def gate(self, step: int, tool_use: dict[str, Any]) -> None:
        action = computer_action(tool_use)
        if not self.submit_on or not can_submit(action, _input(tool_use)):
            return
        page = self._page(needs_url=True)
        if page.is_browser and (page.url is None or host_listed(page.url, self.submit_on)):
            why = f"the task's approval policy asks before submitting a form on {', '.join(self.submit_on)}"
            raise AwaitApproval(_asked(str(action), tool_use, page, why), tool_use, step, {"kind": CONFIRM})

    def _matches(self, page: Page) -> bool:
        if self.title is None and self.url is None:
            return True
        if self.title is not None and self.title.search(page.title):
            return True
        if self.url is None or not page.is_browser:
            return False
        return page.url is None or bool(self.url.search(page.url))  # unreadable: ask

    def _page(self, needs_url: bool) -> Page:
        return self.sandbox.page(self.settle_s if needs_url else 0.0)


def policy_hooks(options: ApprovalOptions, sandbox: Sandbox, settle_s: float) -> list[Hooks]:
    """The task's policy, when it has one."""
    return [ApprovalPolicy(options, sandbox, settle_s)] if options.asks else []


def _input(tool_use: dict[str, Any]) -> dict[str, Any]:
    tool_input = tool_use.get("input")
    return tool_input if isinstance(tool_input, dict) else {}


def _asked(action: str, tool_use: dict[str, Any], page: Page, why: str) -> Asked:
    text = str(_input(tool_use).get("text", ""))[:SHOWN]
    shown = f"{action} {text!r}" if text else action
    if page.is_browser:
        where = f" on {page.url}" if page.url else " in the browser (its address could not be read)"
    else:
        where = f" in the window {page.title!r}" if page.title else ""
    return Asked(f"{shown}{where}", why)
