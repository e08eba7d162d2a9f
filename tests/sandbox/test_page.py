"""The executor's ``page`` op and the approval policy on a real desktop: Firefox shows a form served
inside the sandbox; the address comes from Firefox's session store once the last input settled,
and the policy holds what could submit the form on a listed host, and nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from core.setup_steps import SetupStep
from core.spec import ApprovalOptions
from tests.sandbox.desk import Desk
from workers.agent.approval import AwaitApproval
from workers.approval.policy import ApprovalPolicy
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Page
from workers.setup import run_step

pytestmark = pytest.mark.docker

HOME = "/home/user"
FORM = f"http://localhost:8000{HOME}/form.html"
SETTLE_S = 4.0
SERVER = """import http.server, pathlib
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        pathlib.Path("/tmp/posted").write_bytes(body)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"<html><head><title>Thanks</title></head><body>thanks</body></html>")
http.server.ThreadingHTTPServer(("127.0.0.1", 8000), lambda *a: Handler(*a, directory="/")).serve_forever()
"""
PAGE = """<!doctype html><html><head><title>Checkout</title><style>button {position: fixed; inset: 0;
width: 100%; height: 100%; font-size: 40px}</style></head><body><form method="post" action="/done">
<input type="hidden" name="card" value="4242"><button>Pay</button></form></body></html>"""


@pytest.fixture(scope="module")
def shop(launcher: SandboxLauncher) -> Iterator[Desk]:
    """A sandbox whose Firefox shows the form (served by a server inside the sandbox)."""
    sandbox = launcher.start("test-page", 1024, 768, labels={"nightshift.test": "page"})
    try:
        sandbox.wait_ready()
        sandbox.put_file(f"{HOME}/server.py", SERVER.encode())
        sandbox.put_file(f"{HOME}/form.html", PAGE.encode())
        desk = Desk(sandbox)
        desk.launch(f"python3 {HOME}/server.py")
        desk.wait_for("python3 -c \"import urllib.request as u; u.urlopen('http://localhost:8000/etc/hostname')\"")
        firefox = {"command": f"firefox-esr {FORM}", "wait_for_window": "Checkout", "timeout_s": 90}
        step = SetupStep.model_validate({"launch": firefox})
        assert run_step(sandbox, 1, step, "bash_20250124").ok
        yield desk
    finally:
        sandbox.stop()


def page_at(desk: Desk, url: str, timeout_s: float = 30.0) -> Page:
    """The page once the session store shows ``url`` (Firefox writes it a moment after loading)."""
    deadline = time.monotonic() + timeout_s
    while True:
        page = desk.sandbox.page()
        if page.url == url or time.monotonic() > deadline:
            return page
        time.sleep(0.5)


def call(action: str, **params: Any) -> dict[str, Any]:
    tool_input = {"action": action, **params}
    return {"type": "tool_use", "id": f"t_{action}", "name": "computer", "input": tool_input}


def policy(desk: Desk, **options: Any) -> ApprovalPolicy:
    return ApprovalPolicy(ApprovalOptions.model_validate(options), desk.sandbox, SETTLE_S)


def test_the_page_is_the_focused_browsers_address_not_its_title(shop: Desk) -> None:
    page = page_at(shop, FORM)
    assert page.url == FORM
    assert page.is_browser and page.app.lower().startswith("firefox")
    assert page.title.startswith("Checkout")


def test_a_click_that_could_submit_is_held_on_a_listed_host_and_nothing_else_is(shop: Desk) -> None:
    page_at(shop, FORM)
    click = call("left_click", coordinate=[512, 400])
    with pytest.raises(AwaitApproval) as held:
        policy(shop, submit_on=["localhost"]).gate(3, click)
    assert held.value.asked.what == f"left_click on {FORM}"
    assert "submitting a form on localhost" in held.value.asked.why
    assert held.value.step == 3 and held.value.tool_use == click
    policy(shop, submit_on=["shop.example.com", "*.localhost"]).gate(3, click)  # not listed
    policy(shop, submit_on=["localhost"]).gate(3, call("mouse_move", coordinate=[5, 5]))
    policy(shop, submit_on=["localhost"]).gate(3, call("key", text="Tab"))
    with pytest.raises(AwaitApproval, match="key 'Return'"):
        policy(shop, submit_on=["localhost"]).gate(3, call("key", text="Return"))


def test_keyboard_input_is_held_while_the_address_matches_when_url(shop: Desk) -> None:
    page_at(shop, FORM)
    typing = call("type", text="4242")
    with pytest.raises(AwaitApproval):
        policy(shop, before=["type"], when_url=r"/form\.html$").confirm(1, typing)
    assert policy(shop, before=["type"], when_url=r"^https://shop\.example\.com/").confirm(1, typing)
    assert policy(shop, before=["key"], when_url=r"form").confirm(1, typing)  # not a member it holds


def test_the_address_after_a_submission_is_read_once_the_click_has_settled(shop: Desk) -> None:
    """The click submits the form; the next reading waits out the settle and sees the new page."""
    page_at(shop, FORM)
    shop.ok("left_click", coordinate=[512, 400])
    began = time.monotonic()
    page = shop.sandbox.page(SETTLE_S)
    assert page.url == "http://localhost:8000/done", page
    assert time.monotonic() - began >= SETTLE_S - 1.0
    assert shop.sh("cat /tmp/posted") == "card=4242"
    assert page_at(shop, "http://localhost:8000/done").title.startswith("Thanks")


def test_outside_the_browser_no_address_is_read_and_forms_are_not_its_business(shop: Desk) -> None:
    shop.launch("xterm -T 'Plain terminal' -e sleep 600")
    shop.wait_for("xdotool search --name 'Plain terminal' windowactivate")
    shop.wait_for("xdotool getactivewindow getwindowname | grep -q 'Plain terminal'")
    page = shop.sandbox.page()
    assert (page.title, page.url, page.is_browser) == ("Plain terminal", None, False)
    policy(shop, submit_on=["localhost"]).gate(1, call("key", text="Return"))
    assert policy(shop, before=["type"], when_url="localhost").confirm(1, call("type", text="x"))
