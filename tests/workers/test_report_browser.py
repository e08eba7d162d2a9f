"""The audit report and the batch index, opened in headless Chromium (issue 10): a real multi-step
script run through the worker and the sandbox image writes report.html; the page has no console
errors, every image loads, its step count is the transcript's, and the click marker sits where the
click was. A screenshot of each page is kept under var/test-artifacts/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.spec import TaskSpec
from tests.browser import Browser
from tests.conftest import ROOT
from tests.workers.conftest import assert_ended_clean, attempt_dir
from workers.artifacts.index import index_key
from workers.runner import execute_run
from workers.runtime import Runtime

pytestmark = pytest.mark.docker
KEEP = ROOT / "var" / "test-artifacts"
CLICK = (200, 150)
STEPS = [
    {"name": "computer", "input": {"action": "screenshot"}},
    {"name": "computer", "input": {"action": "left_click", "coordinate": list(CLICK)}},
    {"name": "bash", "input": {"command": "echo 42 > /tmp/total.txt"}},
    {"name": "computer", "input": {"action": "scroll", "coordinate": [500, 400], "scroll_direction": "down",
                                   "scroll_amount": 2}},
]


@pytest.fixture
def browser() -> Iterator[Browser]:
    opened = Browser()
    yield opened
    opened.close()


def page_facts(browser: Browser) -> dict[str, object]:
    return browser.eval("""(() => {
      const imgs = [...document.images];
      return {images: imgs.length, broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).length,
              steps: document.querySelectorAll('.step').length};
    })()""")


def click_offset(browser: Browser) -> list[float]:
    """How far (px, in the screenshot's own pixels) the click marker's centre is from the click."""
    return browser.eval("""(() => {
      const m = document.querySelector('.marker.click'); const img = m.parentElement.querySelector('img');
      const r = m.getBoundingClientRect(), i = img.getBoundingClientRect();
      const scale = img.naturalWidth / i.width;
      return [(r.left + r.width / 2 - i.left) * scale - Number(m.dataset.x),
              (r.top + r.height / 2 - i.top) * scale - Number(m.dataset.y), Number(m.dataset.x)];
    })()""")


def test_the_report_and_batch_index_render_in_chromium(rt: Runtime, browser: Browser) -> None:
    spec = TaskSpec.model_validate({"name": "report", "agent": "script", "steps": STEPS,
                                    "outputs": ["/tmp/total.txt"],
                                    "checks": [{"name": "total", "run": "grep -q 42 /tmp/total.txt"},
                                               {"name": "wrong", "run": "grep -q 41 /tmp/total.txt"}]})
    run_id = "run-report-1"
    rt.records.create(run_id, spec, batch_id="b-test")  # a batch of one

    execute_run(run_id, rt)

    assert_ended_clean(rt, run_id, 1)
    report = attempt_dir(rt, run_id, 1) / "report.html"
    transcript = (attempt_dir(rt, run_id, 1) / "transcript.jsonl").read_text().splitlines()
    step_ends = [e for e in map(json.loads, transcript) if e["event"] == "step_end"]
    browser.open(report.as_uri())
    facts = page_facts(browser)
    browser.screenshot(KEEP / "report.png")
    assert browser.errors == []
    assert facts["steps"] == len(step_ends) == len(STEPS)
    assert facts["images"] >= 3 and facts["broken"] == 0
    dx, dy, x = click_offset(browser)
    assert x == CLICK[0] and abs(dx) <= 2 and abs(dy) <= 2
    assert browser.eval("document.querySelectorAll('#checks tr.check').length") == 2
    link = browser.eval("document.querySelector('#outputs a').getAttribute('href')")
    assert link == "outputs/tmp/total.txt"
    browser.open(browser.eval("document.querySelector('#outputs a').href"))  # the link leads to the file
    assert browser.eval("document.body.innerText").strip() == "42"

    index = Path(rt.settings.artifacts_dir) / index_key("b-test")
    browser.open(index.as_uri())
    browser.screenshot(KEEP / "index.png")
    assert browser.errors == []
    assert browser.eval("document.querySelectorAll('tr.run').length") == 1
    browser.open(browser.eval("document.querySelector('tr.run a').href"))
    assert browser.eval("document.title") == f"nightshift run {run_id}"
