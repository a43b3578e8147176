"""graphql-core's executor, with the plain fields of a selection taken straight from their source.

Most of an answer is plain fields: a strawberry field with no resolver of its own, no arguments,
a scalar or enum (an invoice's number, a line's quantity) or an object read the same way (its
``total``). graphql-core gives each the whole treatment of a field that has a resolver: a path,
a resolve info, the argument coercion, the resolver call, the awaitable checks, the completion's
type dispatch; about three quarters of the executor's time on a page of invoices.

``PlainFieldsExecutor`` sorts a selection's fields once (per selection and request; graphql-core
already memoizes the selection itself) and reads each plain one with ``getattr`` and the type's
own ``coerce_output_value``. Everything else takes graphql-core's path unchanged: fields with
resolvers (their permission classes, arguments and loaders), abstract types, lists, and also a
plain field whose value would need an error (a null in a non-null field, a value the type
refuses), which graphql-core then reports exactly as it would have: the same message, path and
propagation. The answer is the same, bytes and errors included (tests/api/test_execution.py runs
documents through both executors and compares).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    Undefined,
    is_leaf_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import Path, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import GraphQLCoreConverter
from strawberry.types.field import StrawberryField

BACKREF = GraphQLCoreConverter.DEFINITION_BACKREF


class _Leaf(NamedTuple):
    attribute: str
    coerce: Callable[[Any], Any]
    non_null: bool


class _Object(NamedTuple):
    attribute: str
    object_type: GraphQLObjectType
    non_null: bool


class _Step(NamedTuple):
    response_name: str
    field_details_list: FieldDetailsList
    plain: _Leaf | _Object | None  # None: graphql-core's own path


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Keyed by the selection's identity; the selection is kept alive with its steps, so
        # that its id cannot be reused within the request.
        self._steps: dict[int, tuple[GroupedFieldSet, list[_Step]]] = {}

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        known = self._steps.get(id(grouped_field_set))
        if known is None:
            known = (grouped_field_set, self._plan(parent_type, grouped_field_set))
            self._steps[id(grouped_field_set)] = known
        steps = known[1]
        results: dict[str, Any] = {}
        is_awaitable = self.is_awaitable
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list, plain in steps:
                if type(plain) is _Leaf:  # the most frequent case, inline
                    try:
                        value = getattr(source_value, plain.attribute)
                        if value is None:
                            coerced = Undefined if plain.non_null else None
                        else:
                            coerced = plain.coerce(value)
                            if coerced is None:
                                coerced = Undefined
                    except Exception:  # graphql-core raises the same again, and reports it
                        coerced = Undefined
                    if coerced is not Undefined:
                        results[response_name] = coerced
                        continue
                elif plain is not None:  # an object read the same way
                    done, result = self._read(
                        plain, parent_type, source_value, path, response_name, field_details_list
                    )
                    if done:
                        results[response_name] = result
                        if is_awaitable(result):
                            awaitable_fields.append(response_name)
                        continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    field_details_list,
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results
        return _awaited(results, awaitable_fields)

    def complete_iterable_value(
        self,
        item_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: Any,
        path: Path,
        items: Any,
        position_context: Any,
    ) -> Any:
        """A list of objects (a page's edges, an invoice's lines): each item's fields executed
        directly, without graphql-core's four dispatch steps per item. A list with a null or an
        awaitable item, a streamed list, or items of another kind take graphql-core's path."""
        object_type = _object_items(item_type)
        if object_type is None or self.get_stream_usage(field_details_list, path) is not None:
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        items = items if isinstance(items, list) else list(items)
        is_awaitable = self.is_awaitable
        if any(item is None or is_awaitable(item) for item in items):
            return super().complete_iterable_value(
                item_type, field_details_list, info, path, items, position_context
            )
        completed_results: list[Any] = []
        awaitable_indices: list[int] = []
        try:
            for index, item in enumerate(items):
                item_path = path.add_key(index, None)
                try:
                    completed = self.collect_and_execute_subfields(
                        object_type, field_details_list, item_path, item, position_context
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, item_type, field_details_list, item_path)
                    completed = None
                else:
                    if is_awaitable(completed):
                        completed = self._guarded(
                            completed, item_type, field_details_list, item_path
                        )
                        awaitable_indices.append(index)
                completed_results.append(completed)
        except Exception:
            awaiting = [completed_results[index] for index in awaitable_indices]
            if awaiting:
                self.settle_in_background(awaiting)
            raise
        if not awaitable_indices:
            return completed_results
        return _awaited_items(completed_results, awaitable_indices)

    def _read(
        self,
        plain: _Object,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        response_name: str,
        field_details_list: FieldDetailsList,
    ) -> tuple[bool, Any]:
        """(True, the object field's value), or (False, None) where graphql-core must take it:
        its answer would carry an error, which it words and places."""
        try:
            value = getattr(source_value, plain.attribute)
        except Exception:
            return False, None
        if value is None:
            return (False, None) if plain.non_null else (True, None)
        # An object read the same way: what complete_object_value does once it is known that
        # the type has no is_type_of, and execute_field's error handling around it.
        return_type: GraphQLOutputType = plain.object_type
        if plain.non_null:
            return_type = GraphQLNonNull(plain.object_type)
        field_path = Path(path, response_name, parent_type.name)
        try:
            completed = self.collect_and_execute_subfields(
                plain.object_type, field_details_list, field_path, value, None
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, field_path)
            return True, None
        if not self.is_awaitable(completed):
            return True, completed
        return True, self._guarded(completed, return_type, field_details_list, field_path)

    async def _guarded(
        self,
        completed: Any,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> Any:
        try:
            return await completed
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None

    def _plan(
        self, parent_type: GraphQLObjectType, grouped_field_set: GroupedFieldSet
    ) -> list[_Step]:
        return [
            _Step(name, details, self._plain(parent_type, details))
            for name, details in grouped_field_set.items()
        ]

    def _plain(
        self, parent_type: GraphQLObjectType, field_details_list: FieldDetailsList
    ) -> _Leaf | _Object | None:
        """How to read the field without graphql-core's path, or None when it needs it."""
        node = field_details_list[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        if field_def is None or field_def.args or node.arguments or not basic_field(field_def):
            return None
        if self.middleware_manager is not None:
            resolve = field_def.resolve
            if self.middleware_manager.get_field_resolver(resolve) is not resolve:  # type: ignore[arg-type]
                return None  # an extension wraps every resolver
        strawberry_field: StrawberryField = field_def.extensions[BACKREF]
        if strawberry_field.default_resolver is not getattr:
            return None
        return_type = field_def.type
        non_null = isinstance(return_type, GraphQLNonNull)
        if non_null:
            return_type = return_type.of_type
        attribute = strawberry_field.python_name
        if is_leaf_type(return_type):
            return _Leaf(attribute, return_type.coerce_output_value, non_null)  # type: ignore[union-attr]
        if is_object_type(return_type) and return_type.is_type_of is None:  # type: ignore[union-attr]
            return _Object(attribute, return_type, non_null)  # type: ignore[arg-type]
        return None  # lists and abstract types


def basic_field(field_def: GraphQLField) -> bool:
    """A strawberry field without a resolver of its own (strawberry marks its getter)."""
    return bool(getattr(field_def.resolve, "_is_default", False)) and BACKREF in (
        field_def.extensions or {}
    )


async def _awaited(results: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """The fields' awaitables awaited together (one alone, without a gather), as graphql-core's
    execute_fields does: DataLoaders see the whole selection's keys at once."""
    if len(fields) == 1:
        results[fields[0]] = await results[fields[0]]
        return results
    awaited = await gather_with_cancel(*(results[field] for field in fields))
    results.update(zip(fields, awaited, strict=True))
    return results


def _object_items(item_type: GraphQLOutputType) -> GraphQLObjectType | None:
    """The object type of a list's items, when it has no is_type_of to check (else None)."""
    inner = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
    if is_object_type(inner) and inner.is_type_of is None:  # type: ignore[union-attr]
        return inner  # type: ignore[return-value]
    return None


async def _awaited_items(results: list[Any], indices: list[int]) -> list[Any]:
    if len(indices) == 1:
        results[indices[0]] = await results[indices[0]]
        return results
    awaited = await gather_with_cancel(*(results[index] for index in indices))
    for index, value in zip(indices, awaited, strict=True):
        results[index] = value
    return results
