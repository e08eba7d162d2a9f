"""``set_env``: variables (the task's secrets) for the bash tool and the after-agent commands.

A pooled sandbox is started before any run claims it, so a run's secrets cannot be in the
container's environment (``docker inspect`` would show them anyway). The worker sends them once
after the claim; they go into the executor's own environment, which every shell it starts from
then on inherits (bash tool, ``restart``, ``exec`` checks). A shell already running is closed so
the next command starts one that has them. Values never appear in a reply or a log line.
"""

from __future__ import annotations

import os
import re
from typing import Any

from .result import ToolError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_RESERVED = frozenset({"DISPLAY", "HOME", "PATH", "USER", "WIDTH", "HEIGHT", "XDG_RUNTIME_DIR"})


def parse(request: dict[str, Any]) -> dict[str, str]:
    """The request's ``env`` checked: an object of names to string values without NUL."""
    env = request.get("env")
    if not isinstance(env, dict):
        raise ToolError("set_env: env must be an object of variable names to string values")
    for name, value in env.items():
        if not isinstance(name, str) or not _NAME.match(name) or name in _RESERVED:
            raise ToolError(f"set_env: {str(name)[:100]!r} is not a variable name a task may set")
        if not isinstance(value, str) or "\0" in value:
            raise ToolError(f"set_env: the value of {name} must be a string without NUL")
    return dict(env)


def apply(env: dict[str, str]) -> str:
    """Put ``env`` into the executor's environment; the reply's text names the variables only."""
    os.environ.update(env)
    return f"set {len(env)} variable(s): {', '.join(sorted(env)) or '-'}"
