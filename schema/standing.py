"""A deactivated reseller's users and API clients reach billing only (domain.md, Payments and
dunning): who they are, the platform's invoices to them and their statements (``viewer``,
``invoices``), the card, ``payInvoice`` and ``reactivateAccount``. Anything else in an operation
refuses the whole operation, before it runs, with ACCOUNT_DEACTIVATED and a message that says
how to reactivate and who can. Platform admins and customer portals are not held back: a
reseller's customers owe the reseller, not the platform, and keep reading their own invoices.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, OperationDefinitionNode
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension

from schema.errors import ACCOUNT_DEACTIVATED, ApiError

OPEN_WHILE_DEACTIVATED = frozenset(
    {
        "__typename",
        "__schema",
        "__type",
        "viewer",
        "invoices",
        "payInvoice",
        "updatePaymentMethod",
        "reactivateAccount",
        "createCardSetup",
        "setAutopay",
        "refreshToken",
        "login",
        "logout",
    }
)
MESSAGE = (
    "This reseller's account is deactivated because its bills from the platform are unpaid:"
    " only billing is open (viewer, invoices, updatePaymentMethod, payInvoice,"
    " reactivateAccount, createCardSetup). A user with billing access reactivates it at once with"
    " reactivateAccount and a new card."
)


def root_fields(operation: OperationDefinitionNode, fragments: dict[str, object]) -> set[str]:
    """The names of the root fields an operation selects, through its fragments."""
    names: set[str] = set()
    pending = list(operation.selection_set.selections)
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode):
            names.add(node.name.value)
        elif isinstance(node, InlineFragmentNode):
            pending.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            fragment = fragments.get(node.name.value)
            if fragment is not None:
                pending.extend(fragment.selection_set.selections)  # type: ignore[attr-defined]
    return names


class AccountStanding(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        principal = getattr(ec.context, "principal", None)
        if principal is None or not principal.deactivated or ec.graphql_document is None:
            yield
            return
        operation = get_operation_ast(ec.graphql_document, ec.operation_name)
        if operation is not None:
            fragments = {
                d.name.value: d
                for d in ec.graphql_document.definitions
                if d.kind == "fragment_definition"  # type: ignore[attr-defined]
            }
            closed = sorted(root_fields(operation, fragments) - OPEN_WHILE_DEACTIVATED)
            if closed:
                ec.result = GraphQLExecutionResult(
                    data=None, errors=[ApiError(MESSAGE, ACCOUNT_DEACTIVATED, fields=closed)]
                )
        yield
