"""Budgets are per run, not per attempt: what earlier attempts spent (the record's usage and cost,
updated every step by ``ProgressHook``) comes off the budgets of the next attempt, and the record
keeps the run's totals. Steps and wall-clock restart with each attempt: an attempt replays the
task from the start in a fresh sandbox."""

from __future__ import annotations

from typing import Any

from core.records import RunRecord
from core.spec import TaskSpec
from workers.outcome import RunResult

INPUT_SIDE = ("input_tokens", "cache_read_tokens", "cache_write_tokens")  # what max_input_tokens counts
Spent = tuple[dict[str, Any], float]  # token counts by name, cost in USD


def spent_before(record: RunRecord) -> Spent:
    return dict(record.usage or {}), float(record.cost_usd or 0.0)


def remaining(spec: TaskSpec, spent: Spent) -> TaskSpec:
    """The spec with token and cost budgets reduced by what was spent (0 left: the loop stops
    before its first request, ``budget_exhausted``)."""
    usage, cost = spent
    budgets = spec.budgets
    input_used = sum(int(usage.get(k, 0)) for k in INPUT_SIDE)
    left: dict[str, Any] = {}
    if budgets.max_input_tokens is not None:
        left["max_input_tokens"] = max(0, budgets.max_input_tokens - input_used)
    if budgets.max_output_tokens is not None:
        left["max_output_tokens"] = max(0, budgets.max_output_tokens - int(usage.get("output_tokens", 0)))
    if budgets.max_cost_usd is not None:
        left["max_cost_usd"] = max(0.0, budgets.max_cost_usd - cost)
    if not left or not (usage or cost):
        return spec
    return spec.model_copy(update={"budgets": budgets.model_copy(update=left)})


def run_totals(spent: Spent, outcome: RunResult) -> dict[str, Any]:
    """The record's usage and cost: earlier attempts' plus this attempt's."""
    usage = dict(spent[0])
    for name, value in outcome.usage.items():
        usage[name] = int(usage.get(name, 0)) + int(value)
    return {"usage": usage, "cost_usd": round(spent[1] + outcome.cost_usd, 6)}
