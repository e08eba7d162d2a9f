"""What the fake Messages API knows about each model, kept apart from core/model_rows.py on
purpose: the server applies the documented rules (TOOLS.md §10, cited per field) so that a wrong
catalog row fails a test instead of agreeing with itself. ``GET /v1/models`` serves these rows in
the Models API's shape (the SDK's ``ModelInfo``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOOLSET = "computer_toolset_20260801"
DATED = ("computer_20241022", "computer_20250124", "computer_20251124")
EFFORTS = ("low", "medium", "high", "xhigh", "max")


@dataclass(frozen=True)
class FakeModel:
    id: str
    line: str
    computer: tuple[str, ...]  # §10.1: computer tool types the model accepts
    thinking: tuple[str, ...]  # §10.2: API thinking types accepted (disabled / enabled / adaptive)
    binds: bool = False  # §10.2: re-sent thinking blocks are bound to their prefix
    hires: bool = False  # §10.4: the high-resolution image tier
    thinks_5x: bool = False  # §10.2: 5.x responses start with signed thinking blocks
    toolset_overhead: int = 4520  # §8: ~4,520 input tokens (Sonnet 5: ~4,590)
    min_cacheable: int | None = None  # §10.5: 512 on the 5.5 models, 4,096 on Haiku 4.5
    lifecycle: str = "active"  # §10.5
    retires_at: str | None = None
    context_window: int = 200_000

    @property
    def efforts(self) -> tuple[str, ...]:
        return EFFORTS if "adaptive" in self.thinking else ()


_5_5: dict[str, Any] = {
    "computer": (TOOLSET,), "binds": True, "hires": True, "thinks_5x": True, "min_cacheable": 512,
}  # fmt: skip
_TOOLSET_OR_DATED: dict[str, Any] = {
    "computer": (TOOLSET, "computer_20251124"), "hires": True, "thinks_5x": True,
}  # fmt: skip
_ADAPTIVE = ("disabled", "adaptive")
_BOTH = (TOOLSET, "computer_20251124")
_ALWAYS = ("adaptive",)

MODELS: dict[str, FakeModel] = {
    m.id: m
    for m in (
        FakeModel("claude-opus-5-5", "opus", thinking=_ALWAYS, **_5_5),
        FakeModel("claude-sonnet-5-5", "sonnet", thinking=_ADAPTIVE, **_5_5),
        FakeModel("claude-haiku-5-5", "haiku", thinking=_ADAPTIVE, **_5_5),
        FakeModel("claude-fable-5-1", "fable", thinking=_ALWAYS, binds=True, **_TOOLSET_OR_DATED),
        FakeModel("claude-mythos-5-1", "mythos", thinking=_ADAPTIVE, **_TOOLSET_OR_DATED),
        FakeModel("claude-sonnet-5", "sonnet", thinking=_ADAPTIVE, toolset_overhead=4590,
                  **_TOOLSET_OR_DATED),
        FakeModel("claude-opus-4-8", "opus", _BOTH, _ADAPTIVE, hires=True),
        FakeModel("claude-opus-4-7", "opus", ("computer_20251124",), ("disabled", "adaptive"), hires=True),
        FakeModel("claude-sonnet-4-6", "sonnet", DATED, ("disabled", "enabled", "adaptive")),
        FakeModel("claude-opus-4-6", "opus", DATED, ("disabled", "enabled", "adaptive")),
        FakeModel("claude-opus-4-5", "opus", DATED, ("disabled", "enabled"), lifecycle="deprecated",
                  retires_at="2027-01-22T00:00:00Z"),
        FakeModel("claude-sonnet-4-5", "sonnet", DATED, ("disabled", "enabled"), lifecycle="retired",
                  retires_at="2026-11-30T00:00:00Z"),
        FakeModel("claude-haiku-4-5", "haiku", DATED, ("disabled", "enabled"), min_cacheable=4096),
    )
}  # fmt: skip


def model_for(body: dict[str, Any]) -> FakeModel | None:
    """The rules for the request's model; None for ids the fake does not know (no model rules)."""
    return MODELS.get(str(body.get("model")))


def model_info(model: FakeModel) -> dict[str, Any]:
    """One ``ModelInfo`` (anthropic.types.ModelInfo) as the Models API serves it."""
    support = lambda ok: {"supported": ok}  # noqa: E731
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.id.replace("claude-", "Claude ").replace("-", " "),
        "created_at": "2026-01-01T00:00:00Z",
        "lifecycle": model.lifecycle,
        "deprecated_at": "2026-06-01T00:00:00Z" if model.lifecycle != "active" else None,
        "retires_at": model.retires_at,
        "line": model.line,
        "max_input_tokens": model.context_window,
        "max_tokens": 128_000 if model.hires else 64_000,
        "capabilities": {
            "thinking": {"supported": True, "types": {
                **{kind: support(kind in model.thinking) for kind in ("adaptive", "enabled", "disabled")},
                "between_tools": support(False)}},
            "effort": {"supported": bool(model.efforts), **{e: support(e in model.efforts) for e in EFFORTS}},
            "context_management": {"supported": True, "clear_tool_uses_20250919": support(True),
                                   "clear_thinking_20251015": support(True),
                                   "compact_20260112": support(model.thinks_5x)},
            **{name: support(True) for name in ("batch", "citations", "code_execution", "image_input",
                                                 "pdf_input", "structured_outputs")},
            "server_tools": {"supported": False},
        },
    }  # fmt: skip


def models_page(query: dict[str, list[str]]) -> dict[str, Any]:
    """``GET /v1/models``: every model on one page (the SDK follows ``has_more``)."""
    data = [model_info(m) for m in MODELS.values()]
    return {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
