"""Token accounting, cost, and the budgets a run must stay within.

Input-side tokens count three ways on the Messages API: fresh ``input_tokens``, cache writes
(``cache_creation_input_tokens``, billed at the write multiplier) and cache reads
(``cache_read_input_tokens``, billed at the read multiplier). The input budget counts all three.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from core.models import ModelConfig
from core.spec import Budgets


@dataclass
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    @classmethod
    def from_api(cls, usage: dict[str, Any] | None) -> Usage:
        """One response's ``usage`` object (missing or null fields count as 0)."""
        usage = usage or {}
        return cls(
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
            cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
        )

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens

    @property
    def total_input_tokens(self) -> int:
        """What the input budget counts: fresh input plus cache reads plus cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    def billed_input_equivalent(self, config: ModelConfig) -> float:
        """Input tokens weighted by the cache multipliers (what the input price is applied to)."""
        return (
            self.input_tokens
            + self.cache_write_tokens * config.cache_write_multiplier
            + self.cache_read_tokens * config.cache_read_multiplier
        )

    def cost_usd(self, config: ModelConfig) -> float:
        input_usd = self.billed_input_equivalent(config) * config.input_usd_per_mtok
        output_usd = self.output_tokens * config.output_usd_per_mtok
        return (input_usd + output_usd) / 1_000_000

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def _int(value: Any) -> int:
    return int(value) if isinstance(value, int | float) else 0


def exhausted_budget(
    budgets: Budgets, *, steps: int, usage: Usage, cost_usd: float, elapsed_s: float
) -> str | None:
    """The name of the first budget already used up, or None. Called before every request, so a
    budget is overshot by at most the one response that crossed it."""
    checks: list[tuple[str, float | None, float]] = [
        ("max_steps", budgets.max_steps, steps),
        ("max_input_tokens", budgets.max_input_tokens, usage.total_input_tokens),
        ("max_output_tokens", budgets.max_output_tokens, usage.output_tokens),
        ("max_cost_usd", budgets.max_cost_usd, cost_usd),
        ("max_wall_s", budgets.max_wall_s, elapsed_s),
    ]
    for name, limit, used in checks:
        if limit is not None and used >= limit:
            return name
    return None


class Accounts:
    """A run's running totals: usage and cost, priced with one model config."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.usage = Usage()

    def add(self, api_usage: dict[str, Any] | None) -> Usage:
        step = Usage.from_api(api_usage)
        self.usage.add(step)
        return step

    @property
    def cost_usd(self) -> float:
        return self.usage.cost_usd(self.config)

    def exhausted(self, budgets: Budgets, *, steps: int, elapsed_s: float) -> str | None:
        return exhausted_budget(
            budgets, steps=steps, usage=self.usage, cost_usd=self.cost_usd, elapsed_s=elapsed_s
        )
