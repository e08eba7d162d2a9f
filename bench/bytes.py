"""Bytes per screenshot (not a test): ours against the reference's method, per encoding, on three
screens of a real sandbox at 1024x768 — the empty desktop, a LibreOffice Calc sheet, a web page in
Firefox ESR (a local page, no network).

For each screen: the reference's method in the same sandbox (``scrot -p`` to a PNG file, what its
screenshot returns before base64; at 1024x768 it does not rescale), our API image as the executor
sends it (PNG, filter 0, zlib level 1), and the same frame (decoded losslessly from ours) encoded
other ways on this host: PNG at other levels and with Pillow's adaptive filters, WebP lossless,
JPEG and WebP lossy. Bytes, base64 bytes (what the API request carries), and encode time.

    .venv/bin/python bench/bytes.py [--image nightshift-sandbox:latest]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import docker
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.density import OPEN_FIREFOX, PAGE, ROWS
from core.settings import load_settings
from sandbox_image.executor.capture import png_bytes
from workers.sandbox.launcher import SandboxLauncher
from workers.sandbox.sandbox import Sandbox

COMPUTER = {"type": "computer_20250124", "name": "computer"}
BASH = {"type": "bash_20250124", "name": "bash"}
SHEET_ROWS = 40


def fods() -> str:
    """A flat OpenDocument spreadsheet: a header and 40 rows of names, dates, amounts."""
    def cell(value: object) -> str:
        kind = 'office:value-type="float" office:value="{0}"' if isinstance(value, float) else \
            'office:value-type="string"'
        return f'<table:table-cell {kind.format(value)}><text:p>{value}</text:p></table:table-cell>'

    rows = [["Region", "Customer", "Date", "Units", "Price", "Total"]]
    for i in range(SHEET_ROWS):
        units, price = float(i * 7 % 90 + 3), float(i * 13 % 50) + 0.99
        date = f"2026-{i % 12 + 1:02d}-{i % 28 + 1:02d}"
        rows.append([["North", "South", "East", "West"][i % 4], f"Customer {i:03d}", date, units, price,
                     round(units * price, 2)])
    body = "".join("<table:table-row>" + "".join(cell(v) for v in row) + "</table:table-row>" for row in rows)
    return ('<?xml version="1.0" encoding="UTF-8"?><office:document '
            'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" '
            'office:mimetype="application/vnd.oasis.opendocument.spreadsheet"><office:body>'
            f'<office:spreadsheet><table:table table:name="Sales">{body}</table:table>'
            '</office:spreadsheet></office:body></office:document>')


def bash(sandbox: Sandbox, command: str) -> str:
    out = sandbox.call(BASH, {"command": command})
    if out.is_error:
        raise RuntimeError(out.text)
    return out.text


def wait_window(sandbox: Sandbox, name: str) -> None:
    found = f"xdotool search --onlyvisible --name '{name}' >/dev/null 2>&1"
    bash(sandbox, f"for i in $(seq 600); do {found} && break; sleep 0.2; done")
    time.sleep(4.0)  # let it finish drawing (and its start-up notices time out)


def reference_bytes(sandbox: Sandbox) -> int:
    """The reference's screenshot: ``scrot -p`` to a PNG file (no rescale at 1024x768)."""
    return int(bash(sandbox, "scrot -p -o /tmp/ref.png && stat -c %s /tmp/ref.png").strip())


ENCODINGS: dict[str, Callable[[Image.Image], bytes]] = {
    "PNG filter 0, zlib 1 (ours)": lambda im: png_bytes(im, 1),
    "PNG filter 0, zlib 6": lambda im: png_bytes(im, 6),
    "PNG adaptive filters, zlib 9 (Pillow optimize)": lambda im: _save(im, "PNG", optimize=True),
    "WebP lossless (method 4)": lambda im: _save(im, "WEBP", lossless=True, quality=100, method=4),
    "WebP lossless (method 0)": lambda im: _save(im, "WEBP", lossless=True, quality=0, method=0),
    "JPEG q85": lambda im: _save(im, "JPEG", quality=85),
    "WebP lossy q90": lambda im: _save(im, "WEBP", quality=90, method=4),
}


def _save(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def encode_ms(fn: Callable[[Image.Image], bytes], image: Image.Image, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        fn(image)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def measure(sandbox: Sandbox, scene: str) -> None:
    shot = sandbox.call(COMPUTER, {"action": "screenshot"})
    assert shot.image is not None
    image = Image.open(io.BytesIO(shot.image)).convert("RGB")
    ref = reference_bytes(sandbox)
    print(f"\n{scene}: reference (scrot PNG) {ref / 1024:.0f} KB, base64 {ref * 4 / 3 / 1024:.0f} KB")
    print(f"  executor's API image: {len(shot.image) / 1024:.1f} KB ({shot.media_type}), "
          f"{len(shot.image) / ref * 100:.1f} % of the reference's")
    for name, fn in ENCODINGS.items():
        data = fn(image)
        print(f"  {name:48s} {len(data) / 1024:8.1f} KB  base64 {len(data) * 4 / 3 / 1024:8.1f} KB  "
              f"{len(data) / ref * 100:6.1f} % of ref  encode {encode_ms(fn, image):6.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", default=None)
    args = parser.parse_args()
    settings = load_settings(sandbox_socket_dir=Path("/tmp/nsd"), sandbox_ready_timeout_s=120.0)
    sandbox = SandboxLauncher(docker.from_env(), settings).start("bytes", 1024, 768, image=args.image)
    print(f"image {args.image or settings.sandbox_image}, 1024x768")
    try:
        sandbox.wait_ready()
        measure(sandbox, "empty desktop")
        sandbox.put_file("/tmp/sales.fods", fods().encode())
        bash(sandbox, "(setsid localc --norestore /tmp/sales.fods >/dev/null 2>&1 &)")
        wait_window(sandbox, "sales")
        measure(sandbox, "LibreOffice Calc sheet")
        bash(sandbox, "pkill -f soffice; sleep 1")
        sandbox.put_file("/tmp/page.html", PAGE.replace("{rows}", ROWS).encode())
        bash(sandbox, OPEN_FIREFOX)
        time.sleep(4.0)
        measure(sandbox, "web page (Firefox)")
    finally:
        sandbox.stop()


if __name__ == "__main__":
    main()
