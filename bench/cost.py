"""Cost of a screenshot session under different caching/pruning policies.

Replays one synthetic session (the model clicks, every action returns a fresh screenshot, the last
step ends the turn) through ``workers.agent.loop.run_session`` against the local fake Messages API
(tests/fake_api.py), which bills usage the way the real API does (image tokens per the model's
tier, text ~ chars/4, documented tool overheads, cache reads and writes by prefix) and applies the
late-2026 rules (thinking-block binding, server-side clearing). Two tables:

* per family (Opus 5.5, Sonnet 5.5, Haiku 5.5, Sonnet 4.6): ours (the model's context plan,
  workers/agent/context.py) against the reference's policy (every screenshot kept, four
  breakpoints, no server-side clearing), in USD at the model's catalog prices;
* on Sonnet 4.6 only, the client-side policies in billed input-token equivalents (--policies).

    .venv/bin/python bench/cost.py [--steps 90] [--size 1280x800] [--policies]
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import structlog
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.catalog import resolve_model
from core.spec import TaskSpec
from tests.fake_api import FakeAnthropicAPI, Recorded, Reply, reply, text, tool_use
from workers.agent.caching import CachePolicy
from workers.agent.loop import LoopOptions, run_session
from workers.agent.usage import Usage
from workers.hooks import Hooks
from workers.outcome import RunResult
from workers.toolio import ToolOutput

MODEL = "claude-sonnet-4-6"
FAMILIES = ("claude-opus-5-5", "claude-sonnet-5-5", "claude-haiku-5-5", "claude-sonnet-4-6")
TARGET = 0.35
REFERENCE_CACHE = CachePolicy(
    keep_images=None, max_images=100, message_breakpoints=3, breakpoints_after_images=True
)
# (label, FakeAnthropicAPI keyword arguments)
USAGE_MODELS: list[tuple[str, dict[str, Any]]] = [
    (
        "usage model of the issue: text chars/4 + images w*h/750, caching by prefix",
        {"tool_overhead": False, "min_cacheable_tokens": 0},
    ),
    (
        "plus the documented server-side tool overheads (TOOLS.md §8) and the 1024-token cache minimum",
        {"tool_overhead": True, "min_cacheable_tokens": 1024},
    ),
]
POLICIES: dict[str, CachePolicy] = {
    "ours (default: 1 live screenshot, prefix cached)": CachePolicy(),
    "reference first-party (all images, 3+1 breakpoints)": CachePolicy(
        keep_images=None, max_images=100, message_breakpoints=3, breakpoints_after_images=True
    ),
    "no caching, 3 images kept": CachePolicy(keep_images=3, message_breakpoints=0, cache_system=False),
    "interval variant (keep 3, prune every 10, cached)": CachePolicy(
        keep_images=3, prune_interval=10, breakpoints_after_images=True
    ),
}


class ScreenshotSandbox:
    """In-process stand-in: every call returns a new screenshot (content varies per call)."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.api_size = size
        self.calls = 0

    def call(self, tool: dict[str, Any], tool_input: Any, *, screenshot: bool | None = None) -> ToolOutput:
        self.calls += 1
        image = Image.new("RGB", self.api_size, (240, 240, 240))
        ImageDraw.Draw(image).text((20, 20), f"screen after action {self.calls}", fill=(0, 0, 0))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        return ToolOutput(image=buffer.getvalue(), media_type="image/png")


def synthetic_model(steps: int, toolset: bool = False) -> Any:
    """Step k < steps: a short thought and a click; step ``steps``: the final answer."""

    def respond(request: Recorded) -> Reply:
        step = 1 + sum(1 for m in request.messages if m["role"] == "assistant")
        if step >= steps:
            return reply(text("The form is submitted and the confirmation page is showing. Done."))
        thought = f"Step {step}: the page changed as expected; next I click the highlighted control."
        if toolset:
            return reply(
                text(thought), tool_use("left_click", {"coordinate": [100 + step, 200]}, toolset=True)
            )
        return reply(
            text(thought), tool_use("computer", {"action": "left_click", "coordinate": [100 + step, 200]})
        )

    return respond


@dataclass
class Row:
    name: str
    usage: Usage
    steps: int

    @property
    def billed(self) -> float:
        return self.usage.billed_input_equivalent(resolve_model(MODEL))


def replay(policy: CachePolicy, steps: int, size: tuple[int, int], fake: dict[str, Any]) -> Row:
    result = session(MODEL, LoopOptions(cache=policy), steps, size, fake)
    return Row("", Usage(**result.usage), result.steps)


def session(
    model: str,
    options: LoopOptions,
    steps: int,
    size: tuple[int, int],
    fake: dict[str, Any],
    reference: bool = False,
) -> RunResult:
    spec = TaskSpec.model_validate(
        {
            "name": "bench",
            "prompt": "Fill in the registration form on the open page and submit it.",
            "model": model,
            "display": f"{size[0]}x{size[1]}",
            "budgets": {"max_steps": steps + 5},
        }
    )
    config = resolve_model(model)
    if reference:  # no server-side edits at all
        config = dataclasses.replace(config, context_editing=False, compaction=False)
    with FakeAnthropicAPI(**fake) as api:
        api.responder = synthetic_model(steps, toolset=config.group.is_toolset)
        client = anthropic.Anthropic(api_key="bench", base_url=api.base_url, max_retries=0)
        result = run_session(
            spec, ScreenshotSandbox(size), client, Hooks(), model_config=config, options=options
        )
    if result.state != "succeeded":
        raise SystemExit(f"replay failed on {model}: {result}")
    return result


def families(steps: int, size: tuple[int, int]) -> None:
    """Ours against the reference's policy per family, in USD at the model's prices."""
    print(f"\n{steps}-step session, {size[0]}x{size[1]} screenshots, USD at the catalog's prices")
    header = f"{'model':20} {'ours $':>9} {'reference $':>12} {'ours/ref':>9}"
    print(f"{header}  ours: input/write/read/output tokens")
    for model in FAMILIES:
        ours = session(model, LoopOptions(), steps, size, {})
        ref = session(model, LoopOptions(cache=REFERENCE_CACHE), steps, size, {}, reference=True)
        u = Usage(**ours.usage)
        tokens = f"{u.input_tokens}/{u.cache_write_tokens}/{u.cache_read_tokens}/{u.output_tokens}"
        share = ours.cost_usd / ref.cost_usd
        print(f"{model:20} {ours.cost_usd:>9.4f} {ref.cost_usd:>12.4f} {share:>8.1%}  {tokens}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=90)
    parser.add_argument("--size", default="1280x800")
    parser.add_argument("--policies", action="store_true", help="also the client-side policies on Sonnet 4.6")
    args = parser.parse_args()
    size = tuple(int(v) for v in args.size.split("x"))
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # quiet step lines
    families(args.steps, (size[0], size[1]))
    if not args.policies:
        return
    print(
        f"{args.steps}-step screenshot session, {args.size} screenshots; billed input-token equivalents "
        "= input + 1.25 x cache writes + 0.1 x cache reads"
    )
    for label, fake in USAGE_MODELS:
        rows = []
        for name, policy in POLICIES.items():
            row = replay(policy, args.steps, (size[0], size[1]), fake)
            row.name = name
            rows.append(row)
        report(label, rows)


def report(label: str, rows: list[Row]) -> None:
    reference = rows[1].billed
    print(f"\n{label}")
    print(f"{'policy':55} {'input':>9} {'write':>9} {'read':>10} {'billed eq.':>11} {'vs ref':>7}")
    for row in rows:
        u = row.usage
        share = row.billed / reference
        print(
            f"{row.name:55} {u.input_tokens:>9} {u.cache_write_tokens:>9} {u.cache_read_tokens:>10} "
            f"{row.billed:>11.0f} {share:>6.1%}"
        )
    ours = rows[0].billed / reference
    verdict = "meets" if ours <= TARGET else "MISSES"
    print(f"ours / reference = {ours:.1%} ({verdict} the target of <= {TARGET:.0%})")


if __name__ == "__main__":
    main()
