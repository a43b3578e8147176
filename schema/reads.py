"""A request's shared reads (db/shared.py) end with its execution; before it, when the operation
writes (a mutation reads what it wrote) or lasts (a subscription)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import OperationType, get_operation_ast
from strawberry.extensions import SchemaExtension

from db.shared import SharedReads


class SharedReadsEnd(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        document = ec.graphql_document
        operation = get_operation_ast(document, ec.operation_name) if document else None
        if operation is None or operation.operation is not OperationType.QUERY:
            await SharedReads.end()
        try:
            yield
        finally:
            await SharedReads.end()
