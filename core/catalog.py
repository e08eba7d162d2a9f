"""The model catalog: built-in rows (core/model_rows.py), under what the Models API last said
(cached in Redis by the workers), under the settings' own rows and overrides.

An id with no row and no dated-id match resolves by family rules: the newest generation of its
line (``claude-sonnet-9`` behaves like the newest Sonnet: the toolset, adaptive thinking, its
prices), never the 2025 tools; the log says so.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

import structlog
from redis import Redis, RedisError

from core import keys
from core.errors import ConfigError
from core.model_rows import ALIASES, BUILTIN_ROWS, NEWEST, NEWEST_OVERALL
from core.models import Lifecycle, ModelConfig
from core.settings import Settings
from core.spec import TaskSpec

log = structlog.get_logger("nightshift.catalog")
Rows = Mapping[str, Mapping[str, Any]]
_FIELDS = {f.name for f in dataclasses.fields(ModelConfig)}
_DATED = re.compile(r"^(?P<base>.+)-(?P<date>\d{8}|latest)$")
_LINE = re.compile(
    r"^claude-(?:(?P<line>opus|sonnet|haiku|fable|mythos)-\d|\d(?:-\d)?-(?P<old>opus|sonnet|haiku))"
)


class Catalog:
    def __init__(self, rows: Mapping[str, ModelConfig]) -> None:
        self.rows = dict(rows)

    @classmethod
    def build(cls, settings: Settings | None = None, overlay: Rows | None = None) -> Catalog:
        """Built-in rows, then the Models API overlay, then the settings (which win)."""
        raw = {name: {**values, "id": name} for name, values in BUILTIN_ROWS.items()}
        for alias, target in ALIASES.items():
            raw[alias] = {**raw[target], "id": alias, "alias_of": target}
        _apply(raw, overlay or {}, "models-api")
        if settings is not None:
            _apply(raw, settings_rows(settings), "settings")
        return cls({name: _row(name, values) for name, values in raw.items()})

    def find(self, model: str) -> ModelConfig | None:
        """The row of ``model``, or of the id it is a dated version of; None when neither exists."""
        if model in self.rows:
            return self.rows[model]
        dated = _DATED.match(model)
        base = self.rows.get(dated["base"]) if dated else None
        return dataclasses.replace(base, id=model, alias_of=base.id) if base else None

    def resolve(self, model: str) -> ModelConfig:
        """``find``, else the family rule (logged); never None."""
        return self.find(model) or self.family_row(model)

    def family_row(self, model: str) -> ModelConfig:
        newest = self.rows[newest_of(model)]
        log.warning("model.family_rule", model=model, behaves_like=newest.id, tools=newest.tools,
                    reason="no catalog row; using the newest generation of its line")  # fmt: skip
        return dataclasses.replace(newest, id=model, alias_of=None, source=f"family rule: {newest.id}",
                                   lifecycle=Lifecycle.ACTIVE, retires_on=None, replacement=None)  # fmt: skip

    def is_claude(self, model: str) -> bool:
        return self.find(model) is not None or line_of(model) is not None

    def listing(self) -> list[ModelConfig]:
        """Every row, current lines first (newest first within a line), retired ones last."""
        order = {Lifecycle.ACTIVE: 0, Lifecycle.DEPRECATED: 1, Lifecycle.RETIRED: 2}
        return sorted(
            self.rows.values(), key=lambda r: (order.get(Lifecycle(r.lifecycle), 3), r.line, _desc(r.id))
        )

    def replacement_for(self, row: ModelConfig) -> str:
        return row.replacement or NEWEST.get(row.line, NEWEST_OVERALL)


def line_of(model: str) -> str | None:
    match = _LINE.match(model)
    return (match["line"] or match["old"]) if match else None


def newest_of(model: str) -> str:
    return NEWEST.get(line_of(model) or "", NEWEST_OVERALL)


def _desc(model_id: str) -> tuple[int, int]:
    numbers = [int(n) for n in re.findall(r"\d+", model_id)[:2]] + [0, 0]
    return -numbers[0], -numbers[1]


def settings_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """``model_configs`` rows, then ``model_prices`` (price fields) over them."""
    rows = {name: dict(values) for name, values in settings.model_configs.items()}
    for name, prices in settings.model_prices.items():
        rows[name] = {**rows.get(name, {}), **prices}
    return rows


def _apply(raw: dict[str, dict[str, Any]], extra: Rows, source: str) -> None:
    for name, values in extra.items():
        unknown = sorted(set(values) - _FIELDS)
        if unknown:
            raise ConfigError(f"model row {name!r} ({source}): unknown field(s) {', '.join(unknown)}")
        base = raw.get(name) or _family_base(raw, name)
        raw[name] = {**base, **values, "id": name, "source": source}


def _family_base(raw: dict[str, dict[str, Any]], name: str) -> dict[str, Any]:
    dated = _DATED.match(name)
    if dated and dated["base"] in raw:
        return {**raw[dated["base"]], "alias_of": dated["base"]}
    newest = raw[newest_of(name)]
    return {
        **newest,
        "lifecycle": Lifecycle.ACTIVE,
        "retires_on": None,
        "replacement": None,
        "alias_of": None,
    }


def _row(name: str, values: Mapping[str, Any]) -> ModelConfig:
    fixed: dict[str, Any] = {key: tuple(v) if isinstance(v, list) else v for key, v in values.items()}
    try:
        return ModelConfig(**fixed)
    except (TypeError, KeyError) as exc:
        raise ConfigError(f"model row {name!r}: {exc}") from exc


# --- lifecycle ----------------------------------------------------------------------------------------


def lifecycle_problem(row: ModelConfig, catalog: Catalog, provider: str = "anthropic") -> str | None:
    """Why a task on this model must be refused now (retired on the first-party API), or None."""
    if row.lifecycle != Lifecycle.RETIRED or provider != "anthropic":
        return None
    when = f" on {row.retires_on}" if row.retires_on else ""
    return f"model {row.id!r} was retired{when}; use {catalog.replacement_for(row)!r} instead"


def lifecycle_warning(row: ModelConfig, catalog: Catalog) -> str | None:
    """A deprecation (with its retirement date) the user should act on."""
    if row.lifecycle == Lifecycle.DEPRECATED:
        when = f" and retires on {row.retires_on}" if row.retires_on else ""
        return f"model {row.id!r} is deprecated{when}; move to {catalog.replacement_for(row)!r}"
    if row.lifecycle == Lifecycle.RETIRED and row.retires_on:  # off the first-party API
        return f"model {row.id!r} was retired on the first-party API on {row.retires_on}"
    return None


def migrated(model: str, settings: Settings) -> str | None:
    """The model ``model_migrations`` rewrites ``model`` to (dated ids follow their base), or None."""
    migrations = settings.model_migrations
    if model in migrations:
        return migrations[model]
    dated = _DATED.match(model)
    return migrations.get(dated["base"]) if dated else None


# --- the Models API overlay, cached in Redis -------------------------------------------------------------


def load_overlay(redis: Redis) -> dict[str, dict[str, Any]]:
    """What the workers last fetched from the Models API ({} when nothing is cached)."""
    raw = redis.get(keys.model_catalog())
    if not raw:
        return {}
    stored = json.loads(raw)
    rows: dict[str, dict[str, Any]] = stored.get("rows", {})
    return rows


def save_overlay(redis: Redis, rows: Rows, fetched_at: float, ttl_s: int) -> None:
    payload = json.dumps({"fetched_at": fetched_at, "rows": rows}, separators=(",", ":"))
    redis.set(keys.model_catalog(), payload, ex=ttl_s)


def catalog_for(settings: Settings, redis: Redis | None) -> Catalog:
    """The catalog with the cached Models API overlay when Redis answers; the built-in rows
    (and the settings) otherwise."""
    overlay: dict[str, dict[str, Any]] = {}
    if redis is not None:
        try:
            overlay = load_overlay(redis)
        except (RedisError, OSError, ValueError) as exc:
            log.info("catalog.overlay_unavailable", error=str(exc))
    return Catalog.build(settings, overlay)


def resolve_model(model: str, settings: Settings | None = None) -> ModelConfig:
    """The row ``model`` runs with, from the built-in rows and the settings (no Redis)."""
    return Catalog.build(settings).resolve(model)


def migrate_spec(spec: TaskSpec, settings: Settings) -> tuple[TaskSpec, str | None]:
    """The spec with ``model_migrations`` applied, and the model it was rewritten from (or None)."""
    if spec.agent != "claude":
        return spec, None
    asked = spec.model or settings.default_model
    target = migrated(asked, settings)
    if target is None or target == asked:
        return spec, None
    return spec.model_copy(update={"model": target}), asked
