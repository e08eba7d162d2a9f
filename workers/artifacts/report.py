"""``report.html``: one run attempt as a page a person can look at, rendered from its stored
artifacts only (transcript.jsonl, screenshots/, result.json, manifest.json), so a run stored in S3
re-renders the same. Self-contained: screenshots are embedded, styles inline, no script and no
network; it works opened from disk or a presigned URL. The transcript is already redacted.

Per step: the model's text and thinking, each tool call with its input and result text, the
screenshot (a thumbnail; a click shows it full size) with the click, drag or scroll position
marked, tokens, cost and time. Then the outcome, the checks and the outputs (linked).
"""

from __future__ import annotations

import base64
import json
import struct
import time
from collections.abc import Callable
from html import escape
from typing import Any

REPORT = "report.html"
MARKED = {"left_click": "click", "right_click": "click", "middle_click": "click", "double_click": "click",
          "triple_click": "click", "left_click_drag": "drag", "scroll": "scroll", "mouse_move": "move"}
Read = Callable[[str], bytes]  # an object of the attempt by name; KeyError when missing

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:1200px}
h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.5em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
pre{white-space:pre-wrap;background:#f6f6f6;padding:.4em;margin:.2em 0;max-height:20em;overflow:auto}
.step{border:1px solid #ddd;border-radius:6px;padding:.6em;margin:.8em 0}
.meta{color:#666;font-size:.9em}.err{color:#b00}.ok{color:#070}
.frame{position:relative;display:inline-block;line-height:0}
.frame img{width:320px;outline:1px solid #999;cursor:zoom-in}
.zoom{display:none}.zoom:checked+.frame img{width:auto;max-width:100%;cursor:zoom-out}
.marker{position:absolute;box-sizing:border-box;width:18px;height:18px;margin:-9px 0 0 -9px;
border:2px solid #e00;
border-radius:50%;background:rgba(255,0,0,.25);pointer-events:none}
.marker.start{border-color:#06c;background:rgba(0,100,255,.25)}
.marker.scroll{border-radius:2px}
"""


def _read_json(read: Read, name: str) -> Any:
    try:
        return json.loads(read(name))
    except (KeyError, ValueError):
        return None


def _transcript(read: Read) -> list[dict[str, Any]]:
    try:
        raw = read("transcript.jsonl").decode("utf-8", "replace")
    except KeyError:
        return []
    return [json.loads(line) for line in raw.splitlines() if line.strip()]


def steps_of(events: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Transcript events by step: responses, tool results and the step's summary."""
    steps: dict[int, dict[str, Any]] = {}
    for event in events:
        if "step" not in event or event.get("event") == "request":
            continue
        step = steps.setdefault(int(event["step"]),
                                {"responses": [], "tools": [], "summary": {}, "approvals": []})
        kind = event.get("event")
        if kind == "response":
            step["responses"].append(event)
        elif kind == "tool_result":
            step["tools"].append(event)
        elif kind == "step_end":
            step["summary"] = event
        elif kind == "approval":
            step["approvals"].append(event)
    return steps


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG header (no image library needed)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or len(data) < 24:
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def render(read: Read, run_id: str, title_extra: str = "") -> bytes:
    result = _read_json(read, "result.json") or {}
    manifest = _read_json(read, "manifest.json") or {}
    steps = steps_of(_transcript(read))
    body = [
        f"<h1>Run {escape(run_id)}{escape(title_extra)}</h1>",
        _outcome(result),
        "<h2>Steps</h2>",
        *(_step(read, number, step) for number, step in sorted(steps.items())),
        _checks(result.get("checks") or []),
        _outputs(result.get("outputs") or {}, manifest),
    ]
    return _page(f"nightshift run {run_id}", "\n".join(body))


def _page(title: str, body: str) -> bytes:
    html = (f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    return html.encode("utf-8")


def _outcome(result: dict[str, Any]) -> str:
    rows = [("state", result.get("state")), ("verdict", result.get("verdict") or "-"),
            ("stop reason", result.get("stop_reason")), ("error", result.get("error") or "-"),
            ("steps", result.get("steps")), ("cost", _usd(result.get("cost_usd"))),
            ("usage", _usage(result.get("usage") or {})), ("wall time", f"{result.get('wall_s', '-')} s"),
            ("attempt", result.get("attempt")), ("batch", result.get("batch_id") or "-")]
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in rows)
    answer = json.dumps(result.get("result"), indent=2, default=str)
    return f"<h2>Outcome</h2><table id=outcome>{cells}</table><h3>Result</h3><pre>{escape(answer)}</pre>"


def _step(read: Read, number: int, step: dict[str, Any]) -> str:
    parts = [f"<div class=step id=step-{number}><b>Step {number}</b> {_step_meta(step['summary'])}"]
    for response in step["responses"]:
        parts += [_block(block) for block in response.get("content") or []]
    parts += [_tool(read, tool) for tool in step["tools"]]
    parts += [_approval(read, event) for event in step["approvals"]]
    return "".join(parts) + "</div>"


def _approval(read: Read, event: dict[str, Any]) -> str:
    """A request (what, why, the screen the approver saw) or a decision (who, when, note)."""
    if event.get("kind") == "requested":
        shot = event.get("screenshot")
        image = _screenshot(read, {"image": shot, "input": {}}) if shot else ""
        text = f"asked: {event.get('what')} (why: {event.get('why')})"
        return f"<div class='tool approval'><b>approval</b> <pre>{escape(text)}</pre>{image}</div>"
    when = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(float(event.get("at") or event.get("ts") or 0)))
    text = f"{event.get('decision')} by {event.get('by')} at {when}" + (
        f": {event.get('note')}" if event.get("note") else "")
    return f"<div class='tool approval'><b>approval</b> <pre>{escape(text)}</pre></div>"


def _step_meta(summary: dict[str, Any]) -> str:
    if not summary:
        return ""
    tokens = f"tokens in {summary.get('input_tokens', 0)} out {summary.get('output_tokens', 0)}"
    read, write = summary.get("cache_read_tokens", 0), summary.get("cache_write_tokens", 0)
    cache = f" (cache read {read}, write {write})"
    time_ms = f"model {summary.get('model_ms', 0):.0f} ms, tools {summary.get('tools_ms', 0):.0f} ms"
    return f"<span class=meta>{tokens}{cache}; {_usd(summary.get('cost_usd'))}; {time_ms}</span>"


def _block(block: dict[str, Any]) -> str:
    kind = block.get("type")
    if kind == "text":
        return f"<p class=say>{escape(str(block.get('text', '')))}</p>"
    if kind == "thinking":
        thought = escape(str(block.get("thinking", "")))
        return f"<details><summary>thinking</summary><pre>{thought}</pre></details>"
    return ""


def _tool(read: Read, tool: dict[str, Any]) -> str:
    name = escape(str(tool.get("name")))
    status = "<span class=err>error</span>" if tool.get("is_error") else "<span class=ok>ok</span>"
    tool_input = escape(json.dumps(tool.get("input"), default=str))
    text = f"<pre>{escape(str(tool.get('text') or ''))}</pre>" if tool.get("text") else ""
    shot = _screenshot(read, tool) if tool.get("image") else ""
    meta = f"<span class=meta>{tool.get('elapsed_ms', 0):.0f} ms</span>"
    return f"<div class=tool><b>{name}</b> {status} {meta}<pre>{tool_input}</pre>{text}{shot}</div>"


def _screenshot(read: Read, tool: dict[str, Any]) -> str:
    name = str(tool["image"])
    try:
        data = read(name)
    except KeyError:
        return f"<p class=err>missing {escape(name)}</p>"
    media = "image/png" if name.endswith(".png") else "image/jpeg"
    uri = f"data:{media};base64,{base64.b64encode(data).decode('ascii')}"
    box_id = f"zoom-{name.replace('/', '-').replace('.', '-')}-{id(tool)}"
    markers = _markers(tool.get("input") or {}, png_size(data))
    return (f"<input type=checkbox class=zoom id={box_id}><label class=frame for={box_id}>"
            f"<img class=shot src=\"{uri}\" alt=\"{escape(name)}\">{markers}</label>")


def _markers(tool_input: dict[str, Any], size: tuple[int, int] | None) -> str:
    kind = MARKED.get(str(tool_input.get("action")))
    if kind is None or size is None:
        return ""
    found = [("start", tool_input.get("start_coordinate"))] if kind == "drag" else []
    found.append((kind, tool_input.get("coordinate")))
    return "".join(_marker(cls, point, size) for cls, point in found)


def _marker(cls: str, point: Any, size: tuple[int, int]) -> str:
    if not (isinstance(point, list | tuple) and len(point) == 2):
        return ""
    if not all(isinstance(v, int | float) for v in point):
        return ""
    x, y = point
    left, top = 100 * x / size[0], 100 * y / size[1]
    return (f"<span class=\"marker {cls}\" data-x={x} data-y={y} "
            f"style=\"left:{left:.4f}%;top:{top:.4f}%\"></span>")


def _checks(checks: list[dict[str, Any]]) -> str:
    if not checks:
        return "<h2>Checks</h2><p>none</p>"
    rows = "".join(_check_row(c) for c in checks)
    head = "<tr><th>check</th><th>result</th><th>exit</th><th>s</th><th>command</th><th>output</th></tr>"
    return f"<h2>Checks</h2><table id=checks>{head}{rows}</table>"


def _check_row(c: dict[str, Any]) -> str:
    said = c.get("output") or c.get("error") or c.get("skipped") or ""
    cells = [escape(str(c.get("name"))), _pass(c), escape(str(c.get("exit_code"))),
             escape(str(c.get("duration_s", "-"))), f"<pre>{escape(str(c.get('run')))}</pre>",
             f"<pre>{escape(str(said))}</pre>"]
    return "<tr class=check>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _pass(check: dict[str, Any]) -> str:
    if check.get("skipped"):
        return "skipped"
    return "<span class=ok>passed</span>" if check.get("passed") else "<span class=err>failed</span>"


def _outputs(outputs: dict[str, Any], manifest: dict[str, Any]) -> str:
    listed = {o.get("name"): o for o in manifest.get("objects") or []}
    rows = "".join(_output_row(f, listed) for f in outputs.get("files") or [])
    skipped = "".join(f"<li>{escape(str(s.get('path') or s.get('pattern')))}: {escape(str(s.get('reason')))}"
                      "</li>" for s in outputs.get("skipped") or [])
    head = "<tr><th>file</th><th>bytes</th><th>SHA-256</th></tr>"
    table = f"<table id=outputs>{head}{rows}</table>" if rows else "<p>none</p>"
    return f"<h2>Outputs</h2>{table}" + (f"<p>skipped:</p><ul>{skipped}</ul>" if skipped else "")


def _output_row(file: dict[str, Any], listed: dict[Any, Any]) -> str:
    name = escape(str(file["name"]))
    sha256 = escape(str((listed.get(file["name"]) or file).get("sha256")))
    return (f"<tr class=output><td><a href=\"{name}\">{escape(str(file['path']))}</a></td>"
            f"<td>{file['size']}</td><td><code>{sha256}</code></td></tr>")


def _usd(value: Any) -> str:
    return f"${value:.4f}" if isinstance(value, int | float) else "-"


def _usage(usage: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(usage.items())) or "-"
