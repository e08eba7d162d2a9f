"""The allowlist's two halves without containers: the task spec's validation of
``network: {allow: [...]}`` and the proxy's helper (egress_image/egress_helper.py) deciding each
request from the rule file the worker wrote for the requesting sandbox."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from core.spec import TaskSpec

HELPER = Path(__file__).resolve().parents[1] / "egress_image" / "egress_helper.py"


def spec(network: object) -> TaskSpec:
    return TaskSpec.model_validate({"name": "n", "prompt": "p", "network": network})


def test_allow_lists_become_rules_and_bad_entries_are_named() -> None:
    network = spec({"allow": ["*.Wikipedia.org", "staging.example.com:443"]}).network
    assert not isinstance(network, str)
    assert [(r.host, r.ports) for r in network.rules()] == [("*.wikipedia.org", (80, 443)),
                                                            ("staging.example.com", (443,))]
    assert spec("none").network_mode == "none" and spec({"allow": ["a.org"]}).network_mode == "allowlist"
    for bad, message in [("10.0.0.1", "IP addresses cannot be allowed"), ("[::1]:443", "IP addresses"),
                         ("localhost", "is not a host name"), ("a.org:0", "port must be"),
                         ("http://a.org", "is not a host name"), ("*", "is not a host name")]:
        with pytest.raises(ValidationError, match=message):
            spec({"allow": [bad]})
    with pytest.raises(ValidationError, match="network must be none, internet or"):
        spec("open")
    with pytest.raises(ValidationError, match="at least 1 item"):
        spec({"allow": []})


def _helper():  # type: ignore[no-untyped-def]
    loaded = importlib.util.spec_from_file_location("egress_helper", HELPER)
    assert loaded and loaded.loader
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


def test_the_helper_allows_only_what_the_sandboxs_own_rule_file_names(tmp_path: Path) -> None:
    rules = [{"host": "*.wikipedia.org", "ports": [80, 443]}, {"host": "staging.example.com", "ports": [443]}]
    (tmp_path / "10.9.0.2.json").write_text(json.dumps({"run_id": "r1", "rules": rules}))
    (tmp_path / "10.9.0.3.json").write_text("not json")
    allowed = _helper().allowed
    assert allowed(tmp_path, "10.9.0.2", "en.wikipedia.org", "443")
    assert allowed(tmp_path, "10.9.0.2", "EN.Wikipedia.ORG.", "80")
    assert allowed(tmp_path, "10.9.0.2", "staging.example.com", "443")
    refused = [("10.9.0.2", "wikipedia.org", "443"), ("10.9.0.2", "evilwikipedia.org", "443"),
               ("10.9.0.2", "staging.example.com", "80"), ("10.9.0.2", "en.wikipedia.org", "22"),
               ("10.9.0.2", "91.198.174.192", "443"), ("10.9.0.9", "en.wikipedia.org", "443"),
               ("10.9.0.3", "en.wikipedia.org", "443"), ("../10.9.0.2", "en.wikipedia.org", "443")]
    for client, host, port in refused:
        assert not allowed(tmp_path, client, host, port), (client, host, port)


def test_the_helper_speaks_squids_line_protocol(tmp_path: Path) -> None:
    (tmp_path / "10.9.0.2.json").write_text(json.dumps({"rules": [{"host": "a.org", "ports": [80]}]}))
    lines = "10.9.0.2 a.org 80\n10.9.0.2 b.org 80\ngarbage\n"
    done = subprocess.run([sys.executable, str(HELPER), str(tmp_path)], input=lines, capture_output=True,
                          text=True, timeout=30)
    assert done.stdout.split() == ["OK", "ERR", "ERR"]
