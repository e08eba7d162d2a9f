"""A task's model against the catalog, at validation: unknown ids, retired models (refused, the
replacement named), deprecations (warned with the date), ``model_migrations`` (applied first, so a
migrated task validates as it will run), tool groups the model refuses, and ``thinking`` (checked,
translated where documented, or refused naming what the model accepts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.catalog import Catalog, lifecycle_problem, lifecycle_warning, migrated
from core.models import TOOLSET_GROUP, ModelConfig
from core.settings import Settings
from core.spec import TaskSpec
from core.thinking import ThinkingRefused, plan_thinking
from scheduler.yamlfile import Document, Loc, Problem


@dataclass
class Findings:
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class ModelCheck:
    settings: Settings
    catalog: Catalog

    def findings(self, doc: Document, loc: Loc, spec: TaskSpec) -> Findings:
        found = Findings()
        if spec.agent != "claude":
            return found
        asked = spec.model or self.settings.default_model
        model = migrated(asked, self.settings) or asked
        if model != asked:
            note = f"model_migrations rewrites {asked!r} to {model!r} at enqueue"
            found.warnings.append(doc.problem(("model",), note, loc))
        if not self.catalog.is_claude(model):
            found.problems.append(doc.problem(("model",), self._unknown(model), loc))
            return found
        self._check_row(doc, loc, spec, self.catalog.resolve(model), found)
        return found

    def _check_row(self, doc: Document, loc: Loc, spec: TaskSpec, row: ModelConfig, found: Findings) -> None:
        if row.source.startswith("family rule"):
            note = f"{row.id!r} has no catalog row; it runs like {row.source.split(': ')[-1]} (the toolset)"
            found.warnings.append(doc.problem(("model",), note, loc))
        problem = lifecycle_problem(row, self.catalog, self.settings.api_provider)
        if problem:
            hint = " (or set model_migrations to rewrite it at enqueue)"
            found.problems.append(doc.problem(("model",), problem + hint, loc))
            return
        warning = lifecycle_warning(row, self.catalog)
        if warning:
            found.warnings.append(doc.problem(("model",), warning, loc))
        if spec.tools and row.toolset_only and spec.tools != TOOLSET_GROUP:
            message = f"{row.id} accepts only the toolset ({TOOLSET_GROUP}); drop tools or set it to that"
            found.problems.append(doc.problem(("tools",), message, loc))
        if spec.max_tokens and spec.max_tokens > row.max_tokens_limit:
            message = f"{row.id} takes max_tokens up to {row.max_tokens_limit}"
            found.problems.append(doc.problem(("max_tokens",), message, loc))
        self._check_thinking(doc, loc, spec, row, found)

    def _check_thinking(
        self, doc: Document, loc: Loc, spec: TaskSpec, row: ModelConfig, found: Findings
    ) -> None:
        try:
            plan = plan_thinking(spec.thinking, row)
        except ThinkingRefused as exc:
            where = ("thinking", *exc.field.split(".")[1:]) if spec.thinking else ("model",)
            found.problems.append(doc.problem(where, str(exc), loc))
            return
        found.warnings += [doc.problem(("thinking",), note, loc) for note in plan.notes]

    def _unknown(self, model: str) -> str:
        known = ", ".join(sorted(self.catalog.rows))
        return f"unknown model {model!r}: not a Claude model id; known models: {known}"
