"""What an approval policy reads and decides without a sandbox: Firefox's session store (mozlz4,
one LZ4 block) gives the selected tab's address; which actions can submit a form; which hosts a
``submit_on`` list names; and what a task file may say."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.spec import ApprovalOptions
from sandbox_image.executor.page import MOZLZ4_MAGIC, InputClock, browser_url, current_url, lz4_block, mozlz4
from workers.approval.policy import can_submit, host_listed


def literals_only(data: bytes) -> bytes:
    """An LZ4 block of one sequence holding ``data`` as literals (a valid, uncompressed block)."""
    n = len(data)
    if n < 15:
        return bytes([n << 4]) + data
    rest, extra = n - 15, bytearray()
    while rest >= 255:
        extra.append(255)
        rest -= 255
    return bytes([0xF0]) + bytes(extra) + bytes([rest]) + data


def mozlz4_file(state: dict[str, Any]) -> bytes:
    raw = json.dumps(state).encode()
    return MOZLZ4_MAGIC + len(raw).to_bytes(4, "little") + literals_only(raw)


def session(*windows: list[tuple[list[str], int]], selected_window: int = 1) -> dict[str, Any]:
    """Windows of tabs; a tab is (its history's addresses, the current entry's 1-based index)."""
    return {"selectedWindow": selected_window, "windows": [
        {"selected": len(tabs), "tabs": [{"entries": [{"url": u} for u in urls], "index": index}
                                         for urls, index in tabs]} for tabs in windows]}


def test_an_lz4_block_with_a_back_reference_that_overlaps_what_it_copies() -> None:
    # "ab" as literals, then a match of 4 + 6 = 10 bytes at offset 2 (it copies its own output),
    # then the last sequence: the literal "!"
    block = bytes([0x26]) + b"ab" + (2).to_bytes(2, "little") + bytes([0x10]) + b"!"
    assert lz4_block(block, 13) == b"ababababab" + b"ab!"


def test_long_literal_and_match_lengths_are_extended_by_bytes_of_255() -> None:
    data = bytes(range(256)) * 2
    assert lz4_block(literals_only(data), len(data)) == data
    # 1 literal, then a match of 15 + 4 + 255 + 10 = 284 bytes of it, then a last literal
    block = bytes([0x1F]) + b"x" + (1).to_bytes(2, "little") + bytes([255, 10, 0x10]) + b"y"
    assert lz4_block(block, 286) == b"x" * 285 + b"y"


def test_a_corrupt_block_or_file_is_an_error_not_a_guess() -> None:
    with pytest.raises(ValueError, match="offset"):
        lz4_block(bytes([0x10]) + b"a" + (9).to_bytes(2, "little") + bytes([0x00]), 5)
    with pytest.raises(ValueError, match="announced"):
        lz4_block(literals_only(b"abc"), 4)
    with pytest.raises(ValueError, match="mozlz4"):
        mozlz4(b"{}")


def test_the_address_is_the_selected_windows_selected_tabs_current_entry() -> None:
    back = session([(["https://a.example/1", "https://a.example/2"], 1)])  # went back
    assert current_url(back) == "https://a.example/1"
    two = session([(["https://one.example/"], 1)],
                  [(["https://x.example/"], 1), (["https://shop.example/cart"], 1)], selected_window=2)
    assert current_url(two) == "https://shop.example/cart"
    assert current_url({"windows": []}) is None
    assert current_url(session([([], 1)])) is None  # a new tab with nothing loaded


def test_the_newest_session_store_of_the_home_is_read(tmp_path: Path) -> None:
    assert browser_url(tmp_path) == (None, None)
    old = tmp_path / ".mozilla/firefox/a.default/sessionstore-backups/recovery.jsonlz4"
    new = tmp_path / ".mozilla/firefox/b.default-esr/sessionstore-backups/recovery.jsonlz4"
    for path, url in ((old, "https://old.example/"), (new, "https://new.example/")):
        path.parent.mkdir(parents=True)
        path.write_bytes(mozlz4_file(session([([url], 1)])))
    os.utime(old, (time.time() - 60, time.time() - 60))
    url, age = browser_url(tmp_path)
    assert url == "https://new.example/" and age is not None and age < 5
    new.write_bytes(b"mozLz40\0garbage")
    assert browser_url(tmp_path) == (None, None)  # unreadable: unknown, never the older file's


def test_a_reading_waits_for_the_last_input_to_settle() -> None:
    clock = InputClock()
    assert clock.settle(5.0) == 0.0  # no input yet
    clock.touch()
    began = time.monotonic()
    waited = clock.settle(0.3)
    assert 0.2 < waited <= 0.3 and time.monotonic() - began >= 0.25


@pytest.mark.parametrize(("action", "tool_input", "submits"), [
    ("left_click", {"coordinate": [1, 2]}, True),
    ("double_click", {}, True),
    ("triple_click", {}, True),
    ("left_mouse_up", {}, True),
    ("key", {"text": "Return"}, True),
    ("key", {"text": "ctrl+Return"}, True),
    ("key", {"text": "enter"}, True),
    ("key", {"text": "KP_Enter"}, True),
    ("key", {"text": "space"}, True),
    ("hold_key", {"text": "Return", "duration": 1}, True),
    ("type", {"text": "card 4242\n"}, True),
    ("key", {"text": "Tab"}, False),
    ("key", {"text": "ctrl+a BackSpace"}, False),
    ("type", {"text": "4242 4242"}, False),
    ("right_click", {}, False),
    ("middle_click", {}, False),
    ("mouse_move", {"coordinate": [1, 2]}, False),
    ("scroll", {}, False),
    ("screenshot", {}, False),
    (None, {}, False),
])
def test_actions_that_can_submit_a_form(
    action: str | None, tool_input: dict[str, Any], submits: bool
) -> None:
    assert can_submit(action, tool_input) is submits


def test_listed_hosts_match_exactly_or_as_subdomains_of_a_wildcard() -> None:
    hosts = ["shop.example.com", "*.bank.example"]
    assert host_listed("https://shop.example.com/checkout?step=2", hosts)
    assert host_listed("https://SHOP.example.com:8443/", hosts)
    assert host_listed("https://login.bank.example/", hosts)
    assert not host_listed("https://bank.example/", hosts)  # *. is subdomains only, as in network.allow
    assert not host_listed("https://evilshop.example.com/", hosts)
    assert not host_listed("https://shop.example.com.evil.test/", hosts)
    assert not host_listed("about:blank", hosts)
    assert not host_listed(None, hosts)


def test_a_task_file_names_hosts_and_patterns_the_policy_can_use() -> None:
    options = ApprovalOptions.model_validate({
        "before": ["type"], "when_url": r"^https://shop\.example\.com/pay",
        "submit_on": ["Shop.Example.com", "*.bank.example", "localhost"]})
    assert options.submit_on == ["shop.example.com", "*.bank.example", "localhost"] and options.asks
    assert ApprovalOptions.model_validate({"submit_on": ["localhost"]}).asks
    assert not ApprovalOptions.model_validate({}).asks
    for bad, message in (({"submit_on": ["shop.example.com:443"]}, "no port"),
                         ({"submit_on": ["https://shop.example.com/"]}, "not a host name"),
                         ({"before": ["key"], "when_url": "("}, "when_url is not a valid regular expression"),
                         ({"when_url": "shop"}, "when_url needs `before`")):
        with pytest.raises(ValidationError, match=message):
            ApprovalOptions.model_validate(bad)
