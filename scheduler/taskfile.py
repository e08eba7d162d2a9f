"""Task files: one task, or ``tasks: [...]``, in YAML (or JSON). Every task of every file is
validated before anything is enqueued; each problem names the file, the line and the field.

``files[].src`` is resolved against the task file's directory first, then against its parent
directories up to the project root (the nearest one holding ``.git`` or ``pyproject.toml``), so
``examples/batch.yaml`` may name ``./examples/report.pdf`` as the README runs it from the root.
"""

from __future__ import annotations

import os
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from pydantic import BaseModel, ValidationError

from core import inputs
from core.catalog import Catalog
from core.models import TOOL_GROUPS
from core.settings import Settings
from core.spec import FileSpec, TaskSpec
from scheduler import stepcheck
from scheduler.modelcheck import ModelCheck
from scheduler.yamlfile import Document, InvalidFile, Loc, Problem, parse

_PROJECT_MARKERS = (".git", "pyproject.toml")


@dataclass(frozen=True)
class LoadedTask:
    """A validated task plus the bytes of its input files (dest -> content), read at load time."""

    spec: TaskSpec
    inputs: dict[str, bytes] = field(default_factory=dict)
    source: str = ""
    line: int | None = None
    warnings: tuple[Problem, ...] = ()  # deprecations, migrations, thinking translations


@dataclass(frozen=True)
class Checks:
    """What to check beyond the schema. ``check_secrets=False`` when enqueuing from a machine
    other than the workers' (secrets are read from the worker's environment)."""

    settings: Settings
    check_secrets: bool = True
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    allow_files: bool = True
    catalog: Catalog | None = None  # None: the built-in rows and the settings' (no Models API cache)

    def models(self) -> ModelCheck:
        return ModelCheck(self.settings, self.catalog or Catalog.build(self.settings))


def load_files(paths: Iterable[str | Path], checks: Checks) -> list[LoadedTask]:
    """Every task of every file, or ``InvalidFile`` listing every problem of every file."""
    tasks: list[LoadedTask] = []
    problems: list[Problem] = []
    for path in paths:
        try:
            tasks += load_file(path, checks)
        except InvalidFile as exc:
            problems += exc.problems
    if problems:
        raise InvalidFile(problems)
    return tasks


def load_file(path: str | Path, checks: Checks) -> list[LoadedTask]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidFile([Problem(str(path), None, "", f"cannot read task file: {exc}")]) from exc
    return load_text(text, str(path), path.resolve().parent, checks)


def load_text(text: str, source: str, base_dir: Path | None, checks: Checks) -> list[LoadedTask]:
    """Tasks from text. ``base_dir`` None: ``files`` cannot be resolved and are refused."""
    doc = parse(text, source)
    tasks: list[LoadedTask] = []
    problems: list[Problem] = []
    for loc, raw in _task_items(doc):
        task, found = _load_one(doc, loc, raw, base_dir, checks)
        problems += found
        if task is not None:
            tasks.append(task)
    if problems:
        raise InvalidFile(problems)
    return tasks


def _task_items(doc: Document) -> list[tuple[Loc, Any]]:
    """(location, raw task) pairs: ``tasks: [...]``, a bare list, or one task mapping."""
    data = doc.data
    if isinstance(data, dict) and "tasks" in data:
        extra = sorted(set(data) - {"tasks"})
        if extra:
            raise InvalidFile([doc.problem((extra[0],), "unknown top-level key (use tasks: [...])")])
        if not isinstance(data["tasks"], list) or not data["tasks"]:
            raise InvalidFile([doc.problem(("tasks",), "tasks must be a non-empty list")])
        return [(("tasks", index), raw) for index, raw in enumerate(data["tasks"])]
    if isinstance(data, list) and data:
        return [((index,), raw) for index, raw in enumerate(data)]
    if isinstance(data, dict):
        return [((), data)]
    raise InvalidFile([doc.problem((), "expected one task (a mapping) or tasks: [...]")])


def _load_one(
    doc: Document, loc: Loc, raw: Any, base_dir: Path | None, checks: Checks
) -> tuple[LoadedTask | None, list[Problem]]:
    try:
        spec = TaskSpec.model_validate(raw)
    except ValidationError as exc:
        return None, [_from_pydantic(doc, loc, error) for error in exc.errors()]
    found = checks.models().findings(doc, loc, spec)
    problems = found.problems + _semantic_problems(doc, loc, spec, checks)
    files, contents, file_problems = _read_files(doc, loc, spec, base_dir, checks)
    problems += file_problems
    if problems:
        return None, problems
    spec = spec.model_copy(update={"files": files}) if files else spec
    return LoadedTask(spec, contents, doc.source, doc.line((), loc), tuple(found.warnings)), []


def _from_pydantic(doc: Document, base: Loc, error: Any) -> Problem:
    loc: Loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(_allowed_fields(loc[:-1])))
        message = f"unknown field (allowed here: {allowed})"
    elif error["type"] == "missing":
        message = "required field is missing"
    return doc.problem(loc, message, base)


def _allowed_fields(loc: Loc) -> list[str]:
    model: type[BaseModel] | None = TaskSpec
    for part in loc:
        if model is None:
            return []
        if isinstance(part, str):
            info = model.model_fields.get(part)
            model = _model_in(info.annotation) if info else None
    return list(model.model_fields) if model else []


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _semantic_problems(doc: Document, loc: Loc, spec: TaskSpec, checks: Checks) -> list[Problem]:
    problems: list[Problem] = []
    if spec.tools is not None and spec.tools not in TOOL_GROUPS:
        known = ", ".join(sorted(TOOL_GROUPS))
        problems.append(doc.problem(("tools",), f"unknown tool group {spec.tools!r}; known: {known}", loc))
    if spec.output_schema is not None:
        problems += _schema_problems(doc, loc, spec.output_schema)
    wall = stepcheck.wall_problem(spec, checks.settings)
    if wall is not None:
        problems.append(doc.problem(("budgets", "max_wall_s"), wall, loc))
    for index, step in enumerate(spec.steps):
        unknown = stepcheck.step_tool_problem(spec, step)
        if unknown is not None:
            problems.append(doc.problem(("steps", index, "name"), unknown, loc))
    if checks.check_secrets:
        for index, name in enumerate(spec.secrets):
            if name not in checks.environ:
                message = (
                    f"secret {name} is not set in this environment (set it, or skip this check with "
                    "--no-check-secrets when the workers' environment differs)"
                )
                problems.append(doc.problem(("secrets", index), message, loc))
    return problems


def _schema_problems(doc: Document, loc: Loc, schema: dict[str, Any]) -> list[Problem]:
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        return [doc.problem(("output_schema",), f"not a valid JSON Schema: {exc.message}", loc)]
    return []


def _read_files(
    doc: Document, loc: Loc, spec: TaskSpec, base_dir: Path | None, checks: Checks
) -> tuple[list[FileSpec], dict[str, bytes], list[Problem]]:
    """The files with ``src`` made absolute, their bytes by dest, and what went wrong."""
    resolved: list[FileSpec] = []
    contents: dict[str, bytes] = {}
    problems: list[Problem] = []
    limits = inputs.Limits.from_settings(checks.settings)
    for index, file in enumerate(spec.files):
        where: Loc = ("files", index, "src")
        if file.dest in contents:
            problems.append(doc.problem(("files", index, "dest"), "another file has this dest", loc))
            continue
        if base_dir is None or not checks.allow_files:
            problems.append(doc.problem(where, "files cannot be sent this way; enqueue with the CLI", loc))
            continue
        path = resolve_src(file.src, base_dir)
        if path is None:
            message = f"file not found: {file.src} ({_looked_in(base_dir)})"
            problems.append(doc.problem(where, message, loc))
            continue
        data, error = _read_input(path, limits)
        if error:
            problems.append(doc.problem(where, error, loc))
            continue
        resolved.append(file.model_copy(update={"src": str(path)}))
        contents[file.dest] = data
    error = limits.check_run(contents)
    if error and not problems:
        problems.append(doc.problem(("files",), error, loc))
    return resolved, contents, problems


def _read_input(path: Path, limits: inputs.Limits) -> tuple[bytes, str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return b"", f"cannot read {path}: {exc.strerror or exc}"
    return data, limits.check_file(str(path), len(data))


def resolve_src(src: str, base_dir: Path) -> Path | None:
    """``src`` as an existing file: absolute as given, else under ``base_dir`` or a parent of it
    up to the project root."""
    given = Path(src).expanduser()
    if given.is_absolute():
        return given if given.is_file() else None
    for directory in _search_dirs(base_dir.resolve()):
        candidate = (directory / given).resolve()
        if candidate.is_file():
            return candidate
    return None


def _looked_in(base_dir: Path) -> str:
    dirs = _search_dirs(base_dir.resolve())
    return f"looked in {dirs[0]}" + (f" and its parents up to {dirs[-1]}" if len(dirs) > 1 else "")


def _search_dirs(base_dir: Path) -> Sequence[Path]:
    chain = [base_dir, *base_dir.parents]
    for depth, directory in enumerate(chain):
        if any((directory / marker).exists() for marker in _PROJECT_MARKERS):
            return chain[: depth + 1]
    return [base_dir]
