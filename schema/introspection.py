"""Outside development the schema is shown to signed-in callers only: an anonymous `__schema` or
`__type` is refused before execution (GraphiQL works once given a bearer token).

The rule is added per operation, and is one class for the whole process: ValidationCache keys on
the rules, so anonymous and signed-in validations are cached apart and both hit.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from schema.errors import UNAUTHENTICATED

MESSAGE = "sign in to read the schema: introspection needs a bearer token"


class AnonymousIntrospection(NoSchemaIntrospectionCustomRule):
    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value in ("__schema", "__type"):
            self.report_error(GraphQLError(MESSAGE, node, extensions={"code": UNAUTHENTICATED}))


class IntrospectionForCallers(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "principal", None) is None:
            self.execution_context.validation_rules = (
                *self.execution_context.validation_rules,
                AnonymousIntrospection,
            )
        yield
