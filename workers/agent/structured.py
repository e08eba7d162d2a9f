"""Structured answers: the client tool ``declare_infeasible``, offered to every Claude run, and
``submit_result``, offered when a task has an ``output_schema``; the validation of what the model
submits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import SchemaError

SUBMIT_RESULT = "submit_result"
DECLARE_INFEASIBLE = "declare_infeasible"
WRAP_KEY = "result"

_SUBMIT_DESCRIPTION = (
    "Submit the final answer of the task. Call it once, when the task is complete; the input must "
    "match the input schema exactly. A valid submission ends the task; an invalid one is returned "
    "to you with the validation error so you can fix it and submit again."
)
_INFEASIBLE_DESCRIPTION = (
    "Declare that the task cannot be completed in this environment (for example the information "
    "does not exist, the site blocks access, or the request contradicts itself). Give a short, "
    "specific reason. This ends the task; use it only after a genuine attempt."
)
_INFEASIBLE_SCHEMA = {
    "type": "object",
    "properties": {"reason": {"type": "string", "description": "Why the task cannot be done."}},
    "required": ["reason"],
}


class InvalidOutputSchema(ValueError):
    """The task's output_schema is not a valid JSON Schema."""


@dataclass(frozen=True)
class ResultContract:
    """The task's output schema as a tool input schema. A schema that does not describe an object
    is wrapped as ``{"result": <schema>}`` because tool inputs are always objects."""

    schema: dict[str, Any]

    def __post_init__(self) -> None:
        try:
            jsonschema.validators.validator_for(self.schema).check_schema(self.schema)
        except SchemaError as exc:
            raise InvalidOutputSchema(f"output_schema is not a valid JSON Schema: {exc.message}") from exc

    @property
    def wrapped(self) -> bool:
        return self.schema.get("type") != "object"

    @property
    def input_schema(self) -> dict[str, Any]:
        if not self.wrapped:
            return self.schema
        return {"type": "object", "properties": {WRAP_KEY: self.schema}, "required": [WRAP_KEY]}

    def tool_definitions(self) -> list[dict[str, Any]]:
        submit = {
            "name": SUBMIT_RESULT,
            "description": _SUBMIT_DESCRIPTION,
            "input_schema": self.input_schema,
        }
        return [submit, infeasible_tool()]

    def validate(self, tool_input: Any) -> tuple[Any, str | None]:
        """(the answer, None) when valid, else (None, a message for the model)."""
        validator = jsonschema.validators.validator_for(self.input_schema)(self.input_schema)
        error = jsonschema.exceptions.best_match(validator.iter_errors(tool_input))
        if error is None:
            return (tool_input[WRAP_KEY] if self.wrapped else tool_input), None
        where = "/".join(str(part) for part in error.absolute_path) or "(top level)"
        return None, f"The result does not match the required schema at {where}: {error.message}"


def infeasible_tool() -> dict[str, Any]:
    """The ``declare_infeasible`` definition (every Claude run has it)."""
    return {"name": DECLARE_INFEASIBLE, "description": _INFEASIBLE_DESCRIPTION,
            "input_schema": _INFEASIBLE_SCHEMA}


def infeasible_reason(tool_input: Any) -> str | None:
    """The reason given to ``declare_infeasible``, or None when it is missing or empty."""
    if isinstance(tool_input, dict) and isinstance(tool_input.get("reason"), str):
        reason = tool_input["reason"].strip()
        return reason or None
    return None
