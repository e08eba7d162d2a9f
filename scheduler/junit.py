"""JUnit XML for CI dashboards (the Jenkins/Ant format): one ``testsuite`` per batch, one
``testcase`` per run (name = task name, classname = the task's first tag, else the batch id,
time = the run's wall seconds, the artifact URL in ``system-out``).

A run's outcome as a test: cancelled is ``skipped``; a run that has not finished is an ``error``;
with checks, the verdict decides (``failed``: a ``failure`` carrying the failing checks' output);
without a verdict, ``succeeded`` passes, ``failed`` is an ``error`` (the agent or the
infrastructure broke) and ``budget_exhausted``/``infeasible`` are a ``failure`` with the stop reason.
"""

from __future__ import annotations

import re
import socket
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.records import RunRecord
from core.states import RunState, Verdict
from scheduler.morning import duration_s, failing_checks
from scheduler.present import artifacts

MAX_TEXT = 20_000  # characters of check output per testcase
_NOT_XML = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def clean(text: str) -> str:
    """Text XML 1.0 can carry (terminal escapes and other control characters dropped)."""
    return _NOT_XML.sub("", text)


def outcome(record: RunRecord) -> tuple[str, str] | None:
    """(element, message) for a run that did not pass: skipped, error or failure; None if it passed."""
    reason = f"{record.state}: {record.stop_reason or '-'}"
    if record.state == RunState.CANCELLED:
        return "skipped", reason
    if not record.terminal:
        return "error", f"the run did not finish ({record.state})"
    if record.verdict is not None:
        failed = ", ".join(str(c.get("name")) for c in failing_checks(record)) or "incomplete"
        return None if record.verdict == Verdict.PASSED else ("failure", f"checks failed: {failed}; {reason}")
    if record.state == RunState.SUCCEEDED:
        return None
    return ("error" if record.state == RunState.FAILED else "failure"), reason


def testcase(record: RunRecord, classname: str) -> ET.Element:
    case = ET.Element("testcase", name=clean(record.name), classname=clean(classname),
                      time=f"{duration_s(record) or 0.0:.3f}")
    found = outcome(record)
    if found is not None:
        tag, message = found
        detail = ET.SubElement(case, tag, message=clean(message))
        if tag != "skipped":
            detail.set("type", str(record.state))
            detail.text = clean(_detail(record))
    out = ET.SubElement(case, "system-out")
    out.text = clean(f"run {record.run_id}\nartifacts: {artifacts(record)}\n")
    return case


def _detail(record: RunRecord) -> str:
    parts = [f"stop reason: {record.stop_reason or '-'}"]
    if record.error:
        parts.append(f"error: {record.error}")
    for check in failing_checks(record):
        head = f"--- check {check.get('name')} (exit code {check.get('exit_code')})"
        parts.append(f"{head}: {check.get('run')}")
        parts.append(str(check.get("output") or check.get("error") or ""))
    return "\n".join(parts)[-MAX_TEXT:]


def suite(batch_id: str, records: Sequence[RunRecord]) -> ET.Element:
    cases = [testcase(r, r.tags[0] if r.tags else batch_id) for r in records]
    kinds = [found[0] for r in records if (found := outcome(r)) is not None]
    created = min((r.created_at for r in records if r.created_at), default=0.0)
    element = ET.Element(
        "testsuite", name=batch_id, tests=str(len(cases)), failures=str(kinds.count("failure")),
        errors=str(kinds.count("error")), skipped=str(kinds.count("skipped")),
        time=f"{sum(duration_s(r) or 0.0 for r in records):.3f}", hostname=socket.gethostname(),
        timestamp=datetime.fromtimestamp(created, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S"),
    )
    properties = ET.SubElement(element, "properties")
    ET.SubElement(properties, "property", name="batch_id", value=batch_id)
    element.extend(cases)
    return element


def document(batch_id: str, records: Sequence[RunRecord]) -> bytes:
    one = suite(batch_id, records)
    counts = {key: one.get(key, "0") for key in ("tests", "failures", "errors", "time")}
    root = ET.Element("testsuites", {"name": "nightshift", **counts})
    root.append(one)
    ET.indent(root)
    return bytes(ET.tostring(root, encoding="utf-8", xml_declaration=True))


def write(path: str | Path, batch_id: str, records: Sequence[RunRecord]) -> None:
    Path(path).write_bytes(document(batch_id, records))
