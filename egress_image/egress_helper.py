"""squid external ACL helper: is this sandbox allowed to reach this host and port?

squid writes one line per check, ``<client ip> <host> <port>``; the answer is ``OK`` or ``ERR``.
The worker writes one rule file per running sandbox, named after its address on the egress network:
``<rules dir>/<ip>.json`` = ``{"run_id": ..., "rules": [{"host": "*.example.com", "ports": [80, 443]}]}``.
No file, an unreadable file, an IP literal or no matching rule: ``ERR`` (denied). Stdlib only.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from pathlib import Path
from typing import Any


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _matches(rule: dict[str, Any], host: str, port: int) -> bool:
    pattern = str(rule.get("host", ""))
    if pattern.startswith("*."):
        named = host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    else:
        named = host == pattern
    return named and port in rule.get("ports", ())


def allowed(rules_dir: Path, client: str, host: str, port: str) -> bool:
    host = host.lower().rstrip(".")
    if _is_ip(host) or not port.isdigit() or "/" in client or client.startswith("."):
        return False
    try:
        rules = json.loads((rules_dir / f"{client}.json").read_text())["rules"]
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return any(_matches(rule, host, int(port)) for rule in rules)


def main() -> None:
    rules_dir = Path(sys.argv[1])
    for line in sys.stdin:
        parts = line.split()
        ok = len(parts) >= 3 and allowed(rules_dir, parts[0], parts[1], parts[2])
        sys.stdout.write("OK\n" if ok else "ERR\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
