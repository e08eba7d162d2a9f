"""The fleet's egress proxy: the only way out for a sandbox whose task says
``network: {allow: [...]}``.

One squid container (egress_image/) per worker host and queue, named ``nightshift-egress-<queue>``,
sits on the default bridge (its way out) and on an ``--internal`` Docker network of the same name,
where allowlisted sandboxes live with no route anywhere else and no DNS of their own. Each running
sandbox gets a rule file named after its address on that network (``<rules dir>/<ip>.json``),
written before its agent starts and removed when it stops; squid asks egress_image/egress_helper.py
about every request, so one run's list never applies to another's. Every request, allowed or
denied, is one JSON line in the proxy's log; the worker turns its sandbox's lines into the run's
``egress.jsonl``.

``ensure`` creates the network and the proxy when missing, starts a proxy that died, and waits for
its health check; a proxy that is not ready in time raises ``EgressUnavailable``.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network

from core.errors import EgressUnavailable
from core.settings import Settings
from core.spec import EgressRule

PORT = 3128
PROXY_UID = 13  # squid's "proxy" user in the image
LABEL = "nightshift.egress"  # the queue the proxy and its network serve
SETTLE_POLL_S = 0.25


@dataclass(frozen=True)
class Admission:
    """One sandbox let through the proxy: its address, its run, since when."""

    ip: str
    run_id: str
    container_id: str
    since: float


class EgressProxy:
    def __init__(self, docker_client: docker.DockerClient, settings: Settings) -> None:
        self.docker = docker_client
        self.settings = settings
        self.name = f"nightshift-egress-{settings.queue_name}"
        self.rules_dir = Path(settings.egress_rules_dir) / settings.queue_name

    # --- the fleet component ------------------------------------------------------------------------
    def ensure(self) -> str:
        """The proxy's address on the egress network, once it is up and healthy."""
        try:
            network = self._network()
            container = self._container(network)
            return self._wait_healthy(container)
        except docker.errors.DockerException as exc:
            raise EgressUnavailable(f"the egress proxy {self.name} could not be started: {exc}") from exc

    def proxy_env(self, proxy_ip: str) -> dict[str, str]:
        """What a sandbox needs to use the proxy (curl, pip, Python and Firefox read these)."""
        url = f"http://{proxy_ip}:{PORT}"
        names = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
        local = "localhost,127.0.0.1"
        return {**dict.fromkeys(names, url), "no_proxy": local, "NO_PROXY": local}

    def _network(self) -> Network:
        try:
            return self.docker.networks.get(self.name)
        except docker.errors.NotFound:
            pass
        try:
            return self.docker.networks.create(self.name, driver="bridge", internal=True,
                                               labels={LABEL: self.settings.queue_name})
        except docker.errors.APIError:  # another worker of this host created it meanwhile
            return self.docker.networks.get(self.name)

    def _container(self, network: Network) -> Container:
        try:
            container = self.docker.containers.get(self.name)
        except docker.errors.NotFound:
            return self._create(network)
        if container.status != "running":  # died or was stopped: the worker brings it back
            container.start()
        return container

    def _create(self, network: Network) -> Container:
        """Created on the egress network (so squid resolves through Docker's DNS from its first
        moment), then joined to the default bridge, its way out, and only then started."""
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        self.rules_dir.chmod(0o755)  # squid's helper reads it; only the worker writes
        try:
            container = self.docker.containers.create(
                self.settings.egress_image, name=self.name, network=network.name,
                cap_drop=["ALL"], security_opt=["no-new-privileges"], read_only=True,
                tmpfs={"/tmp": f"size=64m,uid={PROXY_UID},gid={PROXY_UID},mode=0700"},
                mem_limit=f"{self.settings.egress_memory_mb}m", pids_limit=256,
                labels={LABEL: self.settings.queue_name},
                volumes={str(self.rules_dir): {"bind": "/rules", "mode": "ro"}},
                log_config=docker.types.LogConfig(type="json-file", config={"max-size": "50m",
                                                                            "max-file": "3"}),
            )
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: another worker of this host created it meanwhile
                raise
            return self.docker.containers.get(self.name)
        self.docker.networks.get("bridge").connect(container)
        container.start()
        return container

    def _wait_healthy(self, container: Container) -> str:
        deadline = time.monotonic() + self.settings.egress_ready_timeout_s
        while True:
            container.reload()
            health = container.attrs["State"].get("Health", {}).get("Status")
            ip = container.attrs["NetworkSettings"]["Networks"].get(self.name, {}).get("IPAddress")
            if container.status == "running" and health == "healthy" and ip:
                return str(ip)
            if time.monotonic() >= deadline:
                raise EgressUnavailable(
                    f"the egress proxy {self.name} is not ready after "
                    f"{self.settings.egress_ready_timeout_s:.0f}s "
                    f"(status {container.status}, health {health}); allowlisted runs cannot start"
                )
            time.sleep(SETTLE_POLL_S)

    # --- one run ------------------------------------------------------------------------------------
    def admit(self, container: Container, run_id: str, rules: list[EgressRule]) -> Admission:
        """Let ``container`` (a sandbox on the egress network) reach exactly ``rules``."""
        container.reload()
        ip = container.attrs["NetworkSettings"]["Networks"].get(self.name, {}).get("IPAddress")
        if not ip:
            raise EgressUnavailable(f"sandbox {container.short_id} has no address on {self.name}")
        body = {"run_id": run_id, "container_id": container.id,
                "rules": [{"host": r.host, "ports": list(r.ports)} for r in rules]}
        self._write_rules(f"{ip}.json", json.dumps(body).encode())
        return Admission(str(ip), run_id, str(container.id), time.time())

    def release(self, admission: Admission) -> None:
        """Remove the sandbox's rules (unless the address already serves another sandbox)."""
        path = self.rules_dir / f"{admission.ip}.json"
        try:
            if json.loads(path.read_text()).get("container_id") == admission.container_id:
                path.unlink()
        except (OSError, ValueError):
            pass

    def requests(self, admission: Admission, settle_s: float = 2.0) -> list[dict[str, Any]]:
        """Every request the sandbox made, allowed or denied, oldest first (call it after the
        sandbox stopped: squid logs a tunnel when it closes)."""
        deadline, found = time.monotonic() + settle_s, self._requests(admission)
        while time.monotonic() < deadline:
            time.sleep(SETTLE_POLL_S)
            again = self._requests(admission)
            if len(again) == len(found):
                break
            found = again
        return found

    def _requests(self, admission: Admission) -> list[dict[str, Any]]:
        try:
            raw = self.docker.containers.get(self.name).logs(stdout=True, stderr=False,
                                                             since=int(admission.since) - 1)
        except docker.errors.DockerException:
            return []
        entries = (_entry(line) for line in raw.decode("utf-8", "replace").splitlines())
        mine = [e for e in entries if e and e["client"] == admission.ip and e["time"] >= admission.since - 1]
        return [{k: v for k, v in e.items() if k != "client"} for e in mine]

    def sweep(self) -> int:
        """Remove the rule files of sandboxes that no longer exist (their worker died before it
        could release them), so an address handed to a new sandbox carries no old list."""
        swept = 0
        for path in self.rules_dir.glob("*.json") if self.rules_dir.is_dir() else ():
            try:
                container_id = json.loads(path.read_text())["container_id"]
                self.docker.containers.get(container_id)
            except docker.errors.NotFound:
                path.unlink(missing_ok=True)
                swept += 1
            except (OSError, ValueError, KeyError, TypeError, docker.errors.APIError):
                continue
        return swept

    def _write_rules(self, name: str, data: bytes) -> None:
        self.rules_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.rules_dir)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.rules_dir / name)


def _entry(line: str) -> dict[str, Any] | None:
    """One egress.jsonl entry from one proxy log line (None for anything else squid printed)."""
    try:
        raw = json.loads(line)
        return {"time": float(raw["ts"]), "client": raw["client"], "method": raw["method"],
                "host": raw["host"], "port": _number(raw["port"]), "status": _number(raw["status"]),
                "bytes": (_number(raw["bytes_in"]) or 0) + (_number(raw["bytes_out"]) or 0),
                "allowed": not str(raw["result"]).startswith("TCP_DENIED")}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _number(value: Any) -> int | None:
    return int(value) if str(value).isdigit() else None
