"""A per-task egress allowlist (issue 11, part 3): ``network: {allow: [...]}``.

A local "internet" of its own: one test server container (HTTP on 80, HTTPS on 443 with a
self-signed certificate) on a Docker network of the test's own, known there as allowed.example.org,
denied.example.org and other.example.org. Runs go through the real runner (real Redis, Docker, the
sandbox image and the fleet's squid proxy from egress_image/)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import docker
import pytest

from core.errors import EgressUnavailable
from tests.workers.conftest import MakeRuntime, assert_ended_clean, attempt_dir, new_run, result_of, script
from workers.runner import execute_run
from workers.runtime import Runtime
from workers.sandbox.egress import LABEL

pytestmark = pytest.mark.docker
EGRESS_IMAGE = "nightshift-egress:latest"
HOSTS = ("allowed.example.org", "denied.example.org", "other.example.org")

SERVER = """
import http.server, ssl, subprocess, threading
subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "/tmp/k.pem",
                "-out", "/tmp/c.pem", "-days", "1", "-subj", "/CN=example.org"],
               check=True, capture_output=True)
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from " + self.headers["Host"].split(":")[0]).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
def serve(port, tls):
    server = http.server.ThreadingHTTPServer(("0.0.0.0", port), Hello)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); context.load_cert_chain("/tmp/c.pem", "/tmp/k.pem")
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()
threading.Thread(target=serve, args=(443, True), daemon=True).start()
serve(80, False)
"""

PROBE = """python3 - <<'EOF'
import socket, ssl, sys, urllib.request
context = ssl._create_unverified_context()
def get(url, proxy=True):
    handlers = [urllib.request.HTTPSHandler(context=context)]
    handlers += [] if proxy else [urllib.request.ProxyHandler({})]
    try:
        reply = urllib.request.build_opener(*handlers).open(url, timeout=15)
        return f"{reply.status} {reply.read().decode()}"
    except urllib.error.HTTPError as exc:
        return str(exc.code)
    except Exception as exc:
        return "refused: " + ("403" if "403" in str(exc) else type(exc).__name__)
for url in sys.argv[1:]:
    print(url, "->", get(url.removeprefix("direct:"), proxy=not url.startswith("direct:")))
try:
    socket.getaddrinfo("allowed.example.org", 80); print("dns -> resolved")
except OSError as exc:
    print("dns -> failed")
EOF"""


@pytest.fixture
def internet(docker_client: docker.DockerClient, sandbox_image: str) -> Iterator[dict[str, Any]]:
    """The test's own internet: a network and one server known by every name in HOSTS."""
    network = docker_client.networks.create(f"ns-inet-{uuid.uuid4().hex[:8]}", internal=True)
    server = docker_client.containers.create(sandbox_image, entrypoint=["python3", "-c", SERVER],
                                             user="root", network=network.name)
    try:
        network.disconnect(server)
        network.connect(server, aliases=list(HOSTS))
        server.start()
        server.reload()
        address = server.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"]
        yield {"network": network, "ip": address}
    finally:
        server.remove(force=True)
        network.remove()


@pytest.fixture
def egress_rt(make_runtime: MakeRuntime, docker_client: docker.DockerClient, tmp_path: Any,
              internet: dict[str, Any]) -> Iterator[Runtime]:
    """A runtime whose fleet proxy is up and also on the test's internet (its way out here)."""
    rt = make_runtime(egress_image=EGRESS_IMAGE, egress_rules_dir=tmp_path / "egress")
    rt.egress.ensure()
    internet["network"].connect(rt.egress.name)
    yield rt
    mine = {"label": f"{LABEL}={rt.settings.queue_name}"}
    for container in docker_client.containers.list(all=True, filters=mine):
        container.remove(force=True)
    for network in docker_client.networks.list(filters={"label": f"{LABEL}={rt.settings.queue_name}"}):
        network.remove()


def probe_run(rt: Runtime, allow: list[str], *urls: str) -> tuple[str, dict[str, str]]:
    command = PROBE.replace("python3 - <<'EOF'", "python3 - " + " ".join(urls) + " <<'EOF'")
    run_id = new_run(rt, script(command, network={"allow": allow}))
    execute_run(run_id, rt)
    (step,) = result_of(rt, run_id, 1)["result"]["steps"]
    answers = dict(line.split(" -> ", 1) for line in step["text"].splitlines() if " -> " in line)
    return run_id, answers


def egress_log(rt: Runtime, run_id: str) -> list[dict[str, Any]]:
    text = (attempt_dir(rt, run_id, 1) / "egress.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines()]


def test_an_allowlisted_run_reaches_only_its_hosts_and_its_egress_log_says_so(
    egress_rt: Runtime, internet: dict[str, Any]
) -> None:
    urls = ["http://allowed.example.org/", "https://allowed.example.org/", "http://denied.example.org/",
            "https://denied.example.org/", f"http://{internet['ip']}/", "direct:http://allowed.example.org/"]
    run_id, answers = probe_run(egress_rt, ["allowed.example.org"], *urls)

    assert answers == {
        "http://allowed.example.org/": "200 hello from allowed.example.org",
        "https://allowed.example.org/": "200 hello from allowed.example.org",
        "http://denied.example.org/": "403",
        "https://denied.example.org/": "refused: 403",
        f"http://{internet['ip']}/": "403",
        "direct:http://allowed.example.org/": "refused: URLError",  # no DNS, no route: only the proxy
        "dns": "failed",
    }
    assert assert_ended_clean(egress_rt, run_id, 1)["state"] == "succeeded"
    seen = {(e["method"], e["host"], e["port"], e["allowed"]) for e in egress_log(egress_rt, run_id)}
    assert seen == {("GET", "allowed.example.org", 80, True), ("CONNECT", "allowed.example.org", 443, True),
                    ("GET", "denied.example.org", 80, False), ("CONNECT", "denied.example.org", 443, False),
                    ("GET", internet["ip"], 80, False)}
    assert all(e["bytes"] > 0 and e["time"] > 0 for e in egress_log(egress_rt, run_id) if e["allowed"])
    manifest = json.loads((attempt_dir(egress_rt, run_id, 1) / "manifest.json").read_text())
    assert "egress.jsonl" in {entry["name"] for entry in manifest["objects"]}


def test_each_run_gets_its_own_list_even_side_by_side(egress_rt: Runtime, make_runtime: MakeRuntime) -> None:
    other_rt = make_runtime(egress_image=EGRESS_IMAGE, egress_rules_dir=egress_rt.settings.egress_rules_dir)
    urls = ("http://allowed.example.org/", "http://other.example.org/")
    answers: dict[str, dict[str, str]] = {}

    def play(rt: Runtime, host: str) -> None:
        answers[host] = probe_run(rt, [host], *urls)[1]

    threads = [threading.Thread(target=play, args=(rt, host))
               for rt, host in ((egress_rt, "allowed.example.org"), (other_rt, "other.example.org"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert answers["allowed.example.org"] == {urls[0]: "200 hello from allowed.example.org", urls[1]: "403",
                                              "dns": "failed"}
    assert answers["other.example.org"] == {urls[0]: "403", urls[1]: "200 hello from other.example.org",
                                            "dns": "failed"}


def test_a_dead_proxy_is_restarted_for_the_next_run(egress_rt: Runtime) -> None:
    egress_rt.docker.containers.get(egress_rt.egress.name).kill()
    _, answers = probe_run(egress_rt, ["allowed.example.org"], "http://allowed.example.org/")
    assert answers["http://allowed.example.org/"] == "200 hello from allowed.example.org"
    assert egress_rt.docker.containers.get(egress_rt.egress.name).status == "running"


def test_a_run_whose_proxy_cannot_come_up_fails_fast_and_never_opens_the_network(
    make_runtime: MakeRuntime, tmp_path: Any, docker_client: docker.DockerClient
) -> None:
    rt = make_runtime(egress_image="nightshift-egress:no-such-image", egress_rules_dir=tmp_path / "egress")
    run_id = new_run(rt, script("echo never", network={"allow": ["allowed.example.org"]}))
    started = time.monotonic()
    try:
        execute_run(run_id, rt)
    finally:
        for network in docker_client.networks.list(filters={"label": f"{LABEL}={rt.settings.queue_name}"}):
            network.remove()
    record = rt.records.get(run_id)
    assert (record.state, record.stop_reason) == ("failed", EgressUnavailable.__name__)
    assert "egress proxy" in (record.error or "") and time.monotonic() - started < 30
    assert record.container_id is None  # no sandbox was ever started
    assert assert_ended_clean(rt, run_id, 1)["state"] == "failed"


def test_firefox_goes_through_the_proxy_and_reaches_only_the_allowed_host(egress_rt: Runtime) -> None:
    shots = "; ".join(f"timeout 90 firefox-esr --headless --no-remote --screenshot /tmp/{name}.png "
                      f"http://{name}.example.org/ >/dev/null 2>&1" for name in ("allowed", "denied"))
    run_id = new_run(egress_rt, script(f"{shots}; ls /tmp/*.png", network={"allow": ["allowed.example.org"]}))
    execute_run(run_id, egress_rt)

    assert assert_ended_clean(egress_rt, run_id, 1)["state"] == "succeeded"
    reached = {(e["host"], e["allowed"]) for e in egress_log(egress_rt, run_id) if e["method"] == "GET"}
    assert {("allowed.example.org", True), ("denied.example.org", False)} <= reached
    assert {host for host, allowed in reached if allowed} == {"allowed.example.org"}
