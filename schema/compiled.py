"""Compiled answers for the object selections of queries seen before.

graphql-core completes an object by walking its selection anew for every object of every
request: the field lookups, a path and a resolve info per field, the awaitable checks, the type
dispatch of every value. For a selection the process has met before (the parser cache gives a
repeated document the same AST, so its field nodes identify the selection), ``CompiledExecutor``
generates one Python function per selected object type, once: straight-line code that reads each
plain field from its object, coerces it with its type's own ``coerce_output_value`` and calls a
field's strawberry resolver (its permission classes, argument conversion and extensions
unchanged) only where the field has one.

What a builder does not handle makes it not compiled, and graphql-core (with
schema/execution.py's fast path) completes that object as before: an async resolver, an
abstract type, a directive anywhere in the selection (``@skip``, ``@include``, ``@defer``), a
resolver wrapped by an extension's middleware, a mutation. What it meets at run time that would
need an error (a null in a non-null field, a value its type refuses, an exception in a
resolver, an awaitable from a resolver declared sync, a list that is not a list) abandons the
builder's answer for that object; graphql-core then completes the object from the start and
reports the error exactly as it would have. A builder only reads, so running part of one twice
changes nothing. tests/api/test_execution.py compares the three executors' answers byte for
byte, errors included.

A resolver called from a builder gets a resolve info shared by every object of the selection in
the request, whose ``path`` is the field's name alone (no resolver here reads it; an error is
reported by graphql-core, with its real path).
"""

from __future__ import annotations

import itertools
import keyword
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLID,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLString,
    OperationType,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from graphql.language import (
    FieldNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
)
from graphql.pyutils import Path

from .execution import BACKREF, PlainFieldsExecutor, basic_field

BUILDERS_PER_SCHEMA = 1024  # selections kept compiled, least recently used dropped first

Builder = Callable[[Any, "CompiledExecutor"], dict[str, Any]]


class Fallback(Exception):
    """Raised inside a builder: graphql-core completes the object instead."""


class NotCompilable(Exception):
    """The selection needs graphql-core's executor."""


class Call(NamedTuple):
    """A resolver's field as a builder calls it; its info and arguments are made once per
    request (``CompiledExecutor.call_parts``)."""

    field_def: GraphQLField
    field_nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    response_name: str


class _Entry(NamedTuple):
    nodes: tuple[FieldNode, ...]  # kept alive, so that their ids are not reused
    build: Builder | None


class _Builders:
    """One schema's compiled selections, keyed by the object type and the field nodes; used
    from the event loop's thread only."""

    def __init__(self) -> None:
        self.entries: OrderedDict[tuple[Any, ...], _Entry] = OrderedDict()

    def get(self, key: tuple[Any, ...]) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is not None:
            self.entries.move_to_end(key)
        return entry

    def put(self, key: tuple[Any, ...], entry: _Entry) -> None:
        self.entries[key] = entry
        while len(self.entries) > BUILDERS_PER_SCHEMA:
            self.entries.popitem(last=False)


_builders: weakref.WeakKeyDictionary[GraphQLSchema, _Builders] = weakref.WeakKeyDictionary()


def builders_of(schema: GraphQLSchema) -> _Builders:
    known = _builders.get(schema)
    if known is None:
        known = _builders.setdefault(schema, _Builders())
    return known


class CompiledExecutor(PlainFieldsExecutor):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._compiles = self.operation.operation is OperationType.QUERY
        self._calls: dict[int, tuple[Call, tuple[GraphQLResolveInfo, dict[str, Any]]]] = {}

    def collect_and_execute_subfields(
        self,
        return_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> Any:
        if self._compiles:
            build = self.builder(return_type, field_details_list)
            if build is not None:
                try:
                    return build(result, self)
                except Exception:  # noqa: S110  graphql-core completes it, and reports any error
                    pass
        return super().collect_and_execute_subfields(
            return_type, field_details_list, path, result, position_context
        )

    def builder(
        self, object_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> Builder | None:
        nodes = tuple(details.node for details in field_details_list)
        key = (object_type.name, *map(id, nodes))
        known = builders_of(self.schema)
        entry = known.get(key)
        if entry is None:
            try:
                build: Builder | None = _Compiler(self).compile(object_type, field_details_list)
            except NotCompilable:
                build = None
            entry = _Entry(nodes, build)
            known.put(key, entry)
        return entry.build

    def call_parts(self, call: Call) -> tuple[GraphQLResolveInfo, dict[str, Any]]:
        """The resolve info and the arguments of a builder's resolver field, once per request."""
        known = self._calls.get(id(call))
        if known is not None and known[0] is call:
            return known[1]
        node = call.field_nodes[0]
        info = self.build_resolve_info(
            call.field_def,
            call.field_nodes,
            call.parent_type,
            Path(None, call.response_name, call.parent_type.name),
        )
        arguments = (
            get_argument_values(
                call.field_def, node, self.variable_values, None, self.hide_suggestions
            )
            if call.field_def.args or node.arguments
            else {}
        )
        parts = (info, arguments)
        self._calls[id(call)] = (call, parts)
        return parts


class _Compiler:
    """Writes the builders of one selection (and of the object selections under it) as Python
    source, and runs it once to make the functions."""

    def __init__(self, executor: CompiledExecutor) -> None:
        self.executor = executor
        self.namespace: dict[str, Any] = {
            "FALLBACK": Fallback,
            "UNDEFINED": Undefined,
            "is_awaitable": executor.is_awaitable,
            "close": _close,
            "str": str,
            "list": list,
            "type": type,
        }
        self.functions: list[str] = []
        self.numbers = itertools.count()

    def compile(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> Builder:
        name = self.object(object_type, details)
        source = "\n\n".join(self.functions)
        exec(compile(source, f"<compiled {object_type.name}>", "exec"), self.namespace)  # noqa: S102  our own code, from the schema and the AST
        return self.namespace[name]  # type: ignore[no-any-return]

    def constant(self, value: Any, prefix: str = "k") -> str:
        name = f"{prefix}{next(self.numbers)}"
        self.namespace[name] = value
        return name

    def object(self, object_type: GraphQLObjectType, details: FieldDetailsList) -> str:
        """A builder's name: from the object to its answer's dict."""
        executor = self.executor
        for field_details in details:
            if field_details.defer_usage is not None or field_details.fragment_variable_values:
                raise NotCompilable
            selection_set = field_details.node.selection_set
            if selection_set is None or not _without_directives(selection_set, executor):
                raise NotCompilable
        collected = executor.collect_subfields(object_type, details)
        if collected.new_defer_usages or collected.forbidden_directive_instances:
            raise NotCompilable
        name = f"b{next(self.numbers)}"
        body: list[str] = []
        if object_type.is_type_of is not None:
            check = self.constant(object_type.is_type_of)
            body.append(f"if not {check}(src, None): raise FALLBACK")
        answer: list[str] = []
        for response_name, field_details_list in collected.grouped_field_set.items():
            value = f"v{next(self.numbers)}"
            self.field(body, object_type, response_name, field_details_list, value)
            answer.append(f"{response_name!r}: {value}")
        body.append("return {" + ", ".join(answer) + "}")
        self.functions.append(f"def {name}(src, ctx):\n" + _indented(body, 1))
        return name

    def field(
        self,
        body: list[str],
        parent_type: GraphQLObjectType,
        response_name: str,
        details: FieldDetailsList,
        value: str,
    ) -> None:
        if any(d.defer_usage is not None or d.fragment_variable_values for d in details):
            raise NotCompilable
        node = details[0].node
        if node.directives:
            raise NotCompilable
        field_name = node.name.value
        if field_name == "__typename":
            body.append(f"{value} = {parent_type.name!r}")
            return
        field_def = self.executor.schema.get_field(parent_type, field_name)
        if field_def is None or BACKREF not in (field_def.extensions or {}):
            raise NotCompilable  # introspection, or a field strawberry did not make
        resolve = field_def.resolve
        manager = self.executor.middleware_manager
        if resolve is None or (
            manager is not None and manager.get_field_resolver(resolve) is not resolve  # type: ignore[arg-type]
        ):
            raise NotCompilable  # an extension wraps every resolver
        strawberry_field = field_def.extensions[BACKREF]
        attribute = strawberry_field.python_name
        if (
            basic_field(field_def)
            and strawberry_field.default_resolver is getattr
            and not field_def.args
            and not node.arguments
            and attribute.isidentifier()
            and not keyword.iskeyword(attribute)
        ):
            body.append(f"{value} = src.{attribute}")
        else:
            if strawberry_field.is_async:
                raise NotCompilable
            call = self.constant(
                Call(field_def, [d.node for d in details], parent_type, response_name), "c"
            )
            function = self.constant(resolve, "r")
            body.append(f"info, arguments = ctx.call_parts({call})")
            body.append(f"{value} = {function}(src, info, **arguments)")
            body.append(f"if is_awaitable({value}):")
            body.append(f"    close({value})")
            body.append("    raise FALLBACK")
        self.complete(body, field_def.type, details, value)

    def complete(
        self, body: list[str], return_type: GraphQLOutputType, details: FieldDetailsList, value: str
    ) -> None:
        """Code that turns ``value`` into its answer, or raises FALLBACK."""
        if isinstance(return_type, GraphQLNonNull):
            body.append(f"if {value} is None: raise FALLBACK")
            self.complete_value(body, return_type.of_type, details, value)
            return
        inner: list[str] = []
        self.complete_value(inner, return_type, details, value)
        body.append(f"if {value} is not None:")
        body.extend("    " + line for line in inner)

    def complete_value(
        self, body: list[str], return_type: GraphQLOutputType, details: FieldDetailsList, value: str
    ) -> None:
        if is_leaf_type(return_type):
            coerce = self.constant(return_type.coerce_output_value)  # type: ignore[union-attr]
            if return_type is GraphQLString or return_type is GraphQLID:
                body.append(f"if type({value}) is not str:")
                prefix = "    "
            else:
                prefix = ""
            body.append(f"{prefix}{value} = {coerce}({value})")
            body.append(f"{prefix}if {value} is None or {value} is UNDEFINED: raise FALLBACK")
        elif is_object_type(return_type):
            builder = self.object(return_type, details)  # type: ignore[arg-type]
            body.append(f"{value} = {builder}({value}, ctx)")
        elif is_list_type(return_type):
            item = self.item(return_type, details)  # type: ignore[arg-type]
            body.append(f"if type({value}) is not list: raise FALLBACK")
            body.append(f"{value} = [{item}(item, ctx) for item in {value}]")
        else:
            raise NotCompilable  # an interface or a union

    def item(self, list_type: GraphQLList[Any], details: FieldDetailsList) -> str:
        """A function from one item of a list to its answer."""
        name = f"i{next(self.numbers)}"
        body: list[str] = []
        self.complete(body, list_type.of_type, details, "src")
        body.append("return src")
        self.functions.append(f"def {name}(src, ctx):\n" + _indented(body, 1))
        return name


def _without_directives(selection_set: SelectionSetNode, executor: CompiledExecutor) -> bool:
    """No directive on this level of the selection (fragments followed), so that which fields
    it selects does not depend on the variables. Deeper levels are checked when compiled."""
    for selection in selection_set.selections:
        if selection.directives:
            return False
        if isinstance(selection, InlineFragmentNode):
            if not _without_directives(selection.selection_set, executor):
                return False
        elif isinstance(selection, FragmentSpreadNode):
            fragment = executor.fragment_definitions.get(selection.name.value)
            if fragment is None or fragment.directives:
                return False
            if not _without_directives(fragment.selection_set, executor):
                return False
    return True


def _close(awaitable: Any) -> None:
    """A coroutine that will not be awaited, closed (no "never awaited" warning)."""
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()


def _indented(lines: list[str], level: int) -> str:
    return "\n".join("    " * level + line for line in lines)
