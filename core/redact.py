"""Secret redaction: one ``Redactor`` per run, applied where bytes leave the worker.

The worker builds it once per attempt from the values of the task's ``secrets`` and applies it at
three boundaries, never per writer: every artifact object (``RunArtifacts``), every run-record and
event write to Redis (``Records.redacted``), and every rendered log line (the structlog renderer
wrapped by ``core.logs``, which finds the run's redactor through ``active``/``current``).

Besides each value as is, it matches the forms a value-based filter can cover cheaply: JSON and
HTML escapes, URL encoding (``%2F`` and ``%2f``, ``+`` for spaces), and base64 (standard and
URL-safe) at each of the three byte alignments, so a value base64-encoded inside a longer string
(``printf 'token=%s' "$SECRET" | base64``) is caught too. What it cannot promise: a value the model
or a program transformed otherwise (reversed, split, hashed, spelled out, re-encoded twice), and
pixels (a screenshot shows whatever the screen shows).
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import re
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
MIN_ENCODED_CHARS = 4  # shorter encoded fragments would match unrelated text


def _percent_lower(value: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), value)


def _base64_cores(raw: bytes) -> set[str]:
    """The base64 characters that depend on ``raw`` alone, at each alignment in a longer input."""
    cores = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw).decode()
        start, end = -(-offset * 8 // 6), (offset + len(raw)) * 8 // 6
        core = encoded[start:end]
        cores |= {core, core.replace("+", "-").replace("/", "_")}
    return cores


def forms(secret: str) -> set[str]:
    """Every form of ``secret`` the redactor looks for (the value itself included)."""
    encoded = {
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        html.escape(secret),
        quote(secret, safe=""),
        quote(secret),
        quote_plus(secret),
    }
    encoded |= {_percent_lower(value) for value in encoded}
    encoded |= _base64_cores(secret.encode())
    return {secret} | {value for value in encoded if len(value) >= MIN_ENCODED_CHARS}


class Redactor:
    """Replaces every form of every secret with ``[REDACTED]`` in text, bytes and JSON-like data."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        found = {form for secret in secrets if secret for form in forms(secret)}
        ordered = sorted(found, key=len, reverse=True)  # the longest form wins where they overlap
        self._text = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._bytes = re.compile(b"|".join(re.escape(f.encode()) for f in ordered)) if ordered else None
        self.count = len(ordered)

    def __bool__(self) -> bool:
        return self._text is not None

    def __repr__(self) -> str:  # never the values: a repr may end up in a log line
        return f"Redactor({self.count} forms)"

    def text(self, value: str) -> str:
        return self._text.sub(REDACTED, value) if self._text is not None else value

    def bytes(self, value: bytes) -> bytes:
        return self._bytes.sub(REDACTED.encode(), value) if self._bytes is not None else value

    def deep(self, node: Any) -> Any:
        """A copy of JSON-like ``node`` with every string (dict keys included) redacted."""
        if self._text is None:
            return node
        if isinstance(node, str):
            redacted = self.text(node)
            return node if redacted == node else redacted  # keeps a StrEnum member as it is
        if isinstance(node, dict):
            return {self.deep(k): self.deep(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [self.deep(item) for item in node]
        return node


NOTHING = Redactor()
_CURRENT: ContextVar[Redactor] = ContextVar("nightshift_redactor", default=NOTHING)


def current() -> Redactor:
    """The redactor of the run this context serves (``NOTHING`` outside a run)."""
    return _CURRENT.get()


@contextlib.contextmanager
def active(redactor: Redactor) -> Iterator[Redactor]:
    """Make ``redactor`` the current one for this context (threads started with a copy of the
    context, as the worker's are, see it too)."""
    token = _CURRENT.set(redactor)
    try:
        yield redactor
    finally:
        _CURRENT.reset(token)
