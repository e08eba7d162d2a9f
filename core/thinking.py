"""A task's ``thinking`` against its model's row (TOOLS.md §10.2): accepted as asked, translated
where the API documents the translation, or refused with what the model accepts.

* Manual budgets (``enabled``) on a model that takes only adaptive thinking become ``adaptive``
  with an effort (the budget's size picks it; an explicit effort wins).
* ``off`` on a model that thinks always becomes ``adaptive``: such a model never gets ``disabled``.
* An effort the model does not list, ``adaptive`` on a model without it, or any thinking on a
  model without thinking is refused, naming the field and what the model accepts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.models import Effort, ModelConfig
from core.spec import Thinking

# Budget (tokens) -> effort when a budget must become an effort: our mapping (the docs name the
# translation, not the thresholds).
BUDGET_EFFORTS: tuple[tuple[int, Effort], ...] = ((4096, "low"), (16_384, "medium"), (32_768, "high"))


class ThinkingRefused(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class ThinkingPlan:
    thinking: Thinking
    notes: list[str] = field(default_factory=list)  # translations, for the user


def plan_thinking(asked: Thinking | None, row: ModelConfig) -> ThinkingPlan:
    """What to send for ``asked`` (None: the row's default) on ``row``; raises ThinkingRefused."""
    if asked is None:
        return ThinkingPlan(Thinking.model_validate(row.thinking or {"type": "off"}))
    plan = _type_plan(asked, row)
    return _checked_details(plan, row)


def _type_plan(asked: Thinking, row: ModelConfig) -> ThinkingPlan:
    if asked.type in row.thinking_types:
        return ThinkingPlan(asked)
    accepts = ", ".join(row.thinking_types)
    if asked.type == "off" and "adaptive" in row.thinking_types:
        note = f"{row.id} thinks always; thinking off runs as adaptive"
        return ThinkingPlan(asked.model_copy(update={"type": "adaptive"}), [note])
    if asked.type == "enabled" and "adaptive" in row.thinking_types:
        effort = asked.effort or budget_effort(asked.budget_tokens, row)
        note = f"{row.id} refuses manual budgets; thinking runs as adaptive with effort {effort}"
        update = {"type": "adaptive", "budget_tokens": None, "effort": effort}
        return ThinkingPlan(Thinking.model_validate(asked.model_dump() | update), [note])
    raise ThinkingRefused(
        "thinking.type", f"{row.id} does not accept thinking type {asked.type!r}; it accepts: {accepts}"
    )


def budget_effort(budget: int | None, row: ModelConfig) -> Effort:
    wanted: Effort = "xhigh" if "xhigh" in row.efforts else "max"
    for limit, effort in BUDGET_EFFORTS:
        if (budget or 0) <= limit:
            wanted = effort
            break
    return wanted if wanted in row.efforts or not row.efforts else row.efforts[-1]


def _checked_details(plan: ThinkingPlan, row: ModelConfig) -> ThinkingPlan:
    thinking = plan.thinking
    if thinking.effort is not None and thinking.effort not in row.efforts:
        accepts = ", ".join(row.efforts) or "no effort levels"
        raise ThinkingRefused(
            "thinking.effort", f"{row.id} does not accept effort {thinking.effort!r}; it accepts: {accepts}"
        )
    if thinking.display is not None and not row.thinking_display:
        note = f"{row.id} takes no thinking.display (its thinking comes back summarized); dropped"
        return ThinkingPlan(thinking.model_copy(update={"display": None}), [*plan.notes, note])
    return plan
