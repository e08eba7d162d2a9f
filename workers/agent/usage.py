"""Token accounting, cost, and the budgets a run must stay within.

Input-side tokens count three ways on the Messages API: fresh ``input_tokens``, cache writes
(``cache_creation_input_tokens``; the 1-hour part, ``cache_creation.ephemeral_1h_input_tokens``,
at its own multiplier) and cache reads (``cache_read_input_tokens``). The input budget counts all
three. Cost is priced per response: a model's long-prompt card (Haiku 5.5 above 100K prompt
tokens, TOOLS.md §10.5) applies to every token of a request whose prompt crosses the threshold,
so a run's cost is the sum of its responses' costs, never a price of its totals.
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
    cache_write_tokens: int = 0  # all cache writes, 1-hour ones included
    cache_write_1h_tokens: int = 0

    @classmethod
    def from_api(cls, usage: dict[str, Any] | None) -> Usage:
        """One response's ``usage`` object (missing or null fields count as 0)."""
        usage = usage or {}
        return cls(
            input_tokens=_int(usage.get("input_tokens")),
            output_tokens=_int(usage.get("output_tokens")),
            cache_read_tokens=_int(usage.get("cache_read_input_tokens")),
            cache_write_tokens=_int(usage.get("cache_creation_input_tokens")),
            cache_write_1h_tokens=_int((usage.get("cache_creation") or {}).get("ephemeral_1h_input_tokens")),
        )

    def add(self, other: Usage) -> None:
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.cache_write_1h_tokens += other.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        """What the input budget counts: fresh input plus cache reads plus cache writes."""
        return self.input_tokens + self.cache_read_tokens + self.cache_write_tokens

    def billed_input_equivalent(self, config: ModelConfig) -> float:
        """Input tokens weighted by the cache multipliers (what the input price is applied to)."""
        write_5m = self.cache_write_tokens - self.cache_write_1h_tokens
        return (
            self.input_tokens
            + write_5m * config.cache_write_multiplier
            + self.cache_write_1h_tokens * config.cache_write_1h_multiplier
            + self.cache_read_tokens * config.cache_read_multiplier
        )

    def cost_usd(self, config: ModelConfig) -> float:
        """The price of one response's usage (a sum of responses is priced response by response)."""
        input_rate, output_rate = rates(config, self.total_input_tokens)
        return (self.billed_input_equivalent(config) * input_rate + self.output_tokens * output_rate) / 1e6

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def rates(config: ModelConfig, prompt_tokens: int) -> tuple[float, float]:
    """(input, output) USD per MTok for a request with this many prompt tokens."""
    threshold = config.long_prompt_threshold_tokens
    if threshold is not None and prompt_tokens > threshold:
        return (
            config.long_prompt_input_usd_per_mtok or config.input_usd_per_mtok,
            config.long_prompt_output_usd_per_mtok or config.output_usd_per_mtok,
        )
    return config.input_usd_per_mtok, config.output_usd_per_mtok


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
    """A run's running totals: usage, and cost priced response by response with one model row."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        self.usage = Usage()
        self.cost_usd = 0.0

    def add(self, api_usage: dict[str, Any] | None) -> Usage:
        step = Usage.from_api(api_usage)
        self.usage.add(step)
        self.cost_usd += step.cost_usd(self.config)
        return step

    def exhausted(self, budgets: Budgets, *, steps: int, elapsed_s: float) -> str | None:
        return exhausted_budget(
            budgets, steps=steps, usage=self.usage, cost_usd=self.cost_usd, elapsed_s=elapsed_s
        )
