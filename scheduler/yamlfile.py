"""YAML files whose errors name the line: parse once into data *and* nodes, then map an error's
location (a path of keys and indexes, as pydantic reports it) back to the node it came from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

Loc = Sequence[str | int]
MAX_EXPANDED_NODES = 100_000  # YAML aliases can make a small text expand enormously ("billion laughs")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, located for a human."""

    source: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {"source": self.source, "line": self.line, "field": self.field, "message": self.message}


class InvalidFile(ValueError):
    """Raised with every problem found, so a user fixes a file in one pass."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass(frozen=True)
class Document:
    source: str
    data: Any
    node: Node | None

    def line(self, loc: Loc, base: Loc = ()) -> int | None:
        """1-based line of the deepest node on ``base + loc`` that exists in the file."""
        if self.node is None:
            return None
        return _walk(self.node, [*base, *loc]).start_mark.line + 1

    def problem(self, loc: Loc, message: str, base: Loc = ()) -> Problem:
        return Problem(self.source, self.line(loc, base), field_name([*base, *loc]), message)


def parse(text: str, source: str) -> Document:
    """Parse one YAML (or JSON) document; syntax errors and duplicate keys raise ``InvalidFile``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InvalidFile([Problem(source, line, "", f"not valid YAML: {exc.problem}")]) from exc
    except yaml.YAMLError as exc:
        raise InvalidFile([Problem(source, None, "", f"not valid YAML: {exc}")]) from exc
    finally:
        loader.dispose()
    if node is not None:
        if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
            raise InvalidFile(
                [Problem(source, None, "", "document too large once YAML aliases are expanded")]
            )
        duplicates = list(_duplicate_keys(node, source, [], set()))
        if duplicates:
            raise InvalidFile(duplicates)
    return Document(source, data, node)


def field_name(loc: Loc) -> str:
    """('tasks', 1, 'budgets', 'max_steps') -> 'tasks[1].budgets.max_steps'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _child(node: Node, part: str | int) -> Node | None:
    if isinstance(node, MappingNode):
        for key, value in node.value:
            if isinstance(key, ScalarNode) and key.value == str(part):
                # A key's own line for scalars; a nested block's first line for everything else.
                return value if isinstance(value, MappingNode | SequenceNode) else key
        return None
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return item
    return None


def _walk(node: Node, loc: Loc) -> Node:
    for part in loc:
        child = _child(node, part)
        if child is None:
            break
        node = child
    return node


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Nodes in the document with every alias expanded, computed in linear time."""
    if id(node) not in memo:
        memo[id(node)] = 0  # a recursive alias counts once instead of looping
        children: list[Node] = []
        if isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, SequenceNode):
            children = list(node.value)
        memo[id(node)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(node)]


def _duplicate_keys(node: Node, source: str, path: list[str | int], seen_nodes: set[int]) -> Any:
    if id(node) in seen_nodes:  # an aliased node was checked where it was defined
        return
    seen_nodes.add(id(node))
    if isinstance(node, MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            name = key.value if isinstance(key, ScalarNode) else str(key)
            if name in seen:
                line = key.start_mark.line + 1
                yield Problem(source, line, field_name([*path, name]), "duplicate key")
            seen.add(name)
            yield from _duplicate_keys(value, source, [*path, name], seen_nodes)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _duplicate_keys(item, source, [*path, index], seen_nodes)
