"""Every string a request carries is refused before execution if no database text can hold it.

PostgreSQL refuses NUL in text, and a lone UTF-16 surrogate (a JSON "\\ud800") has no UTF-8 form:
either would fail deep inside a service, as an INTERNAL error, after part of the work ran. This
one check covers every String and ID argument, input field and list item, whether it comes in a
variable (JSON) or as a literal in the document (``"\\u0000"``), and names the argument at fault.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    ExecutionResult,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from core.validation import unstorable
from schema.errors import BAD_USER_INPUT, ApiError


def _in_values(root: object, path: str) -> tuple[str, str] | None:
    """The path and reason of the first unstorable string in decoded JSON: values and keys,
    walked with a stack (the body may nest as deep as the JSON parser allowed)."""
    stack: list[tuple[object, str]] = [(root, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            reason = unstorable(value)
            if reason:
                return where, reason
        elif isinstance(value, dict):
            for key, item in value.items():
                reason = unstorable(key) if isinstance(key, str) else None
                if reason:
                    return where or "variables", "keys " + reason
                stack.append((item, f"{where}.{key}" if where else str(key)))
        elif isinstance(value, list):
            stack.extend((item, f"{where}.{n}") for n, item in enumerate(value))
    return None


def _in_literal(node: ValueNode, path: str) -> tuple[str, str] | None:
    stack: list[tuple[ValueNode, str]] = [(node, path)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, StringValueNode):
            reason = unstorable(value.value)
            if reason:
                return where, reason
        elif isinstance(value, ObjectValueNode):
            stack.extend((f.value, f"{where}.{f.name.value}") for f in value.fields)
        elif isinstance(value, ListValueNode):
            stack.extend((item, f"{where}.{n}") for n, item in enumerate(value.values))
    return None


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: tuple[str, str] | None = None

    def enter_argument(self, node: ArgumentNode, *_: Any) -> Any:
        self.found = self.found or _in_literal(node.value, node.name.value)
        return self.SKIP

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: Any) -> Any:
        if node.default_value is not None:
            self.found = self.found or _in_literal(node.default_value, node.variable.name.value)
        return self.SKIP


# A document's literals never change: a repeated document (the parser cache hands out the same
# AST) is walked once. Keyed weakly, so a document dropped from that cache is dropped here too.
_LITERALS: weakref.WeakKeyDictionary[Any, tuple[str, str] | None] = weakref.WeakKeyDictionary()


def _in_literals(document: Any) -> tuple[str, str] | None:
    try:
        return _LITERALS[document]
    except KeyError:
        pass
    literals = _Literals()
    visit(document, literals)
    _LITERALS[document] = literals.found
    return literals.found


def find_unstorable(document: Any, variables: dict[str, Any] | None) -> tuple[str, str] | None:
    """(path, reason) of the first string in the document's literals or in the variables that
    no text column can hold, or None."""
    found = _in_literals(document)
    if found:
        return found
    return _in_values(variables or {}, "")


class StorableText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        found = find_unstorable(context.graphql_document, context.variables)
        if found:
            path, reason = found
            error = ApiError(f"{path} {reason}", BAD_USER_INPUT, field=path)
            context.result = ExecutionResult(data=None, errors=[error])
        yield
