"""Setup steps through the runner: commands, ``launch`` and ``open`` with a wait for the window,
each step's output and duration in the transcript, and a step whose window never comes failing the
run with the program's output. Script tasks in the real sandbox image; no model."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from scheduler.taskfile import Checks, load_file
from tests.workers.conftest import assert_ended_clean, attempt_dir, new_run, script
from workers.runner import execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker
ROOT = Path(__file__).resolve().parents[2]


def setup_events(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    lines = (attempt_dir(rt, run_id, 1) / "transcript.jsonl").read_text().splitlines()
    return [event for event in map(json.loads, lines) if event.get("event") == "setup"]


def test_launch_and_open_wait_for_their_windows_and_every_step_is_in_the_transcript(rt: Runtime) -> None:
    setup = [
        "printf 'hello from setup\\n' > /tmp/notes.txt && echo placed",
        {"launch": {"command": "xterm -T setup-term", "wait_for_window": "^setup-term$", "timeout_s": 30}},
        {"open": {"path": "/tmp/notes.txt", "wait_for_window": r"notes\.txt - Mousepad", "timeout_s": 60}},
    ]
    run_id = new_run(rt, script("xdotool search --onlyvisible --name . getwindowname %@", setup=setup))

    execute_run(run_id, rt)

    assert rt.records.get(run_id).state == "succeeded"
    events = setup_events(rt, run_id)
    assert [(e["number"], e["kind"], e["ok"]) for e in events] == [(1, "run", True), (2, "launch", True),
                                                                   (3, "open", True)]
    assert events[0]["output"] == "placed" and events[0]["exit_status"] == 0
    assert events[1]["output"].startswith("window ") and '"setup-term"' in events[1]["output"]
    assert "notes.txt - Mousepad" in events[2]["output"]
    assert all(e["duration_ms"] > 0 for e in events)
    assert events[2]["step"] == "open /tmp/notes.txt"


def test_a_window_that_never_comes_fails_the_run_with_the_programs_output(rt: Runtime) -> None:
    setup = [{"launch": {"command": "sh -c 'echo no display for me >&2; exit 3'", "timeout_s": 1.5}}]
    run_id = new_run(rt, script("echo never", setup=setup))

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason, record.steps) == ("failed", "SetupFailed", 0)
    assert (record.error or "").startswith("setup step 1 (launch sh -c ")
    assert "no window (any new one) appeared within 1.5 s" in (record.error or "")
    assert "no display for me" in (record.error or "")
    assert assert_ended_clean(rt, run_id, 1)["state"] == "failed"
    [event] = setup_events(rt, run_id)
    assert (event["ok"], event["exit_status"]) == (False, 124)


def test_the_example_docx_task_edits_and_saves_with_no_dialog_handling(rt: Runtime) -> None:
    """examples/desktop.yaml: open a .docx (setup waits for Writer), type, ctrl+s; its checks find
    the sentence in the saved .docx and no dialog on screen."""
    (task,) = load_file(ROOT / "examples" / "desktop.yaml", Checks(rt.settings, environ={}))
    run_id = f"run-{uuid.uuid4().hex[:12]}"
    rt.records.create(run_id, task.spec, files=task.inputs)

    execute_run(run_id, rt)

    record = rt.records.get(run_id)
    assert (record.state, record.verdict) == ("succeeded", "passed"), record.error
    assert [e["kind"] for e in setup_events(rt, run_id)] == ["open", "run"]
