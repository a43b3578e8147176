"""What a query may cost before it runs, what it cost after, and each caller's budget over time.

A query's cost is the number of objects its answer may hold: every field of an object type counts
once per object it can appear in, so the counts multiply along a path. A connection's edges count
its page size (``first``/``last``, else the default page of 20), ``nodes(ids:)`` the ids it is
given, and a list that takes no page size the bound stated in ``LIST_BOUNDS``. Fragments and
inline fragments count as if written out, every alias counts, and branches on different types all
count (a bound, not a guess). Each mutation field adds ``MUTATION_COST`` to what its payload may
hold. Scalars are free: what stalls a server is objects, each a resolver, a row, a dict.

The cost is computed once the document is valid, with its variables, before any resolver runs: a
query above the maximum is refused (``QUERY_TOO_COMPLEX``). Otherwise the caller's leaky bucket
(``limits.buckets``, shared by every worker) is charged the requested cost up front, so that a
burst of parallel queries cannot overdraw it, and what the answer did not use (the actual cost: the
objects the answer holds, counted as a plain walk of it) is given back with the caller's next
charge, so that a query costs one write, not two. An empty bucket answers ``RATE_LIMITED`` with
the seconds to wait.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    get_operation_ast,
    is_composite_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql import ExecutionResult as GraphQLExecutionResult
from strawberry.extensions import SchemaExtension

from auth.principal import Principal, PrincipalKind
from billing.subscriptions import MAX_BATCH
from db.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from db.scope import PLATFORM_TENANT_ID, TenantScope
from limits.buckets import Bucket, Decision, take_in
from schema.errors import INTERNAL, QUERY_TOO_COMPLEX, RATE_LIMITED, ApiError, overloaded

if TYPE_CHECKING:
    from schema.context import Context

log = logging.getLogger("channelbill.graphql")

MUTATION_COST = 10
ERRORS_BOUND = 10  # a payload's `errors`: one per problem found; estimate
DEFAULT_LIST_BOUND = 100  # a list missing from LIST_BOUNDS (a test keeps the table complete)

# Lists that take no page size, counted at: the cap the code enforces where there is one,
# otherwise an estimate of a large real case (the actual cost then tells the truth).
LIST_BOUNDS: dict[tuple[str, str], int] = {
    ("Invoice", "lines"): 50,  # estimate: a line per product of the vendor the buyer used
    ("Invoice", "payments"): 10,  # estimate: the charge at posting, 3 retries, manual payments
    ("Invoice", "notifications"): 20,  # estimate: an email per status change, and copies
    ("Invoice", "customFields"): 20,  # estimate: the fields its reseller defined
    ("Product", "prices"): 20,  # estimate: one per currency
    ("Statement", "entries"): 100,  # estimate: invoices and payments in the range
    ("EffectiveNotificationSettings", "sources"): 10,  # one per setting
    ("GenerateInvoicesPayload", "invoices"): 100,  # estimate: customers x vendors of one run
    ("GenerateInvoicesPayload", "skipped"): 100,  # as invoices
    ("RecordUsageBatchPayload", "usageRecords"): MAX_BATCH,  # the batch's cap
    ("Query", "vendors"): 50,  # estimate: the platform's cloud vendors
    ("Query", "invoiceCustomFields"): 20,  # estimate: as Invoice.customFields
    ("Query", "exchangeRates"): 500,  # capped in billing.catalog
    ("Query", "priceOverrides"): 1000,  # capped in schema/prices.py
}


@dataclass(frozen=True, slots=True)
class CostPolicy:
    max_cost: int = 25_000
    budget: Bucket | None = None  # per caller; None: no budget over time

    def __post_init__(self) -> None:
        if self.budget is not None and self.budget.capacity < self.max_cost:
            raise ValueError("a budget smaller than the largest query would refuse it forever")


def page_size(arguments: dict[str, Any]) -> int:
    size = arguments.get("first")
    if size is None:
        size = arguments.get("last")
    if not isinstance(size, int):
        return DEFAULT_PAGE_SIZE  # absent (or not an Int: execution refuses it)
    return max(0, min(size, MAX_PAGE_SIZE))  # the resolver refuses anything outside


class _Walk:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        # A fragment's cost for one object it is spread in, by page: cost is linear in the
        # multiplier, so each fragment is walked once however often it is spread.
        self._units: dict[tuple[str, int | None], int] = {}

    def selections(
        self,
        selection_set: SelectionSetNode | None,
        parent: Any,
        multiplier: int,
        page: int | None,
        seen: frozenset[str],
    ) -> int:
        if selection_set is None or multiplier == 0:
            return 0
        total = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                total += self.field(selection, parent, multiplier, page, seen)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(selection.selection_set, inner, multiplier, page, seen)
            elif isinstance(selection, FragmentSpreadNode):
                total += multiplier * self.fragment(selection.name.value, page, seen)
        return total

    def fragment(self, name: str, page: int | None, seen: frozenset[str]) -> int:
        key = (name, page)
        if key not in self._units:
            fragment = self.fragments.get(name)
            if fragment is None or name in seen:
                return 0  # a cycle: validation refuses the document
            inner = self.schema.get_type(fragment.type_condition.name.value)
            self._units[key] = self.selections(
                fragment.selection_set, inner, 1, page, seen | {name}
            )
        return self._units[key]

    def field(
        self, node: FieldNode, parent: Any, multiplier: int, page: int | None, seen: frozenset[str]
    ) -> int:
        name = node.name.value
        if name.startswith("__") or not isinstance(
            parent, GraphQLObjectType | GraphQLInterfaceType
        ):
            return 0  # introspection is bounded by the token limit instead
        definition = parent.fields.get(name)
        if definition is None:
            return 0
        fixed = MUTATION_COST * multiplier if parent is self.schema.mutation_type else 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return fixed
        arguments = {
            argument.name.value: value_from_ast_untyped(argument.value, self.variables)
            for argument in node.arguments or ()
        }
        count = multiplier * self.bound(parent.name, name, definition, arguments, page)
        paged = "first" in definition.args or "last" in definition.args
        inner_page = page_size(arguments) if paged else None
        return fixed + count + self.selections(node.selection_set, named, count, inner_page, seen)

    @staticmethod
    def bound(
        parent: str, name: str, definition: Any, arguments: dict[str, Any], page: int | None
    ) -> int:
        if not is_list_type(get_nullable_type(definition.type)):
            return 1
        if name == "edges" and page is not None:
            return page
        if name == "nodes" and isinstance(arguments.get("ids"), list):
            return len(arguments["ids"])
        if name == "errors":
            return ERRORS_BOUND
        return LIST_BOUNDS.get((parent, name), DEFAULT_LIST_BOUND)


def requested_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: dict[str, Any] | None = None,
) -> int:
    """The most objects the operation's answer may hold (0 if there is no such operation)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    root = schema.get_root_type(operation.operation)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    defaults = {
        d.variable.name.value: value_from_ast_untyped(d.default_value)
        for d in operation.variable_definitions or ()
        if d.default_value is not None
    }
    walk = _Walk(schema, fragments, {**defaults, **(variables or {})})
    return walk.selections(operation.selection_set, root, 1, None, frozenset())


def returned_objects(data: Any) -> int:
    """The objects an answer holds, not counting ``data`` itself. An executed answer is made of
    plain dicts and lists; only those go on the stack, the leaves are looked at once each."""
    if type(data) is not dict and type(data) is not list:
        return 0
    count = -1 if type(data) is dict else 0
    stack = [data]
    push = stack.append
    while stack:
        value = stack.pop()
        if type(value) is dict:
            count += 1
            value = value.values()
        for item in value:
            kind = type(item)
            if kind is dict or kind is list:
                push(item)
    return count


Account = tuple[uuid.UUID, str]  # a bucket: its tenant and its key


class Credits:
    """What answers used less (or, past an estimate, more) than they were charged, per account,
    kept in this worker until the account's next charge. Lost with the worker, which only ever
    errs on the side of charging too much."""

    def __init__(self) -> None:
        self._owed: dict[Account, int] = {}

    def claim(self, account: Account) -> int:
        return self._owed.pop(account, 0)

    def give(self, account: Account, points: int) -> None:
        if points:
            self._owed[account] = self._owed.get(account, 0) + points


def account_of(principal: Principal | None) -> Account | None:
    """Whose bucket a caller spends: a reseller's users share one (more staff is not more
    capacity); each API client and each customer portal has its own, so a busy integration or
    portal cannot lock the reseller's own staff out. Anonymous callers reach no data and have no
    bucket: sign-in has limits of its own."""
    if principal is None:
        return None
    tenant = principal.reseller_id or PLATFORM_TENANT_ID
    match principal.kind:
        case PrincipalKind.PLATFORM_ADMIN:
            return PLATFORM_TENANT_ID, f"cost:admin:{principal.subject_id}"
        case PrincipalKind.API_CLIENT:
            return tenant, f"cost:client:{principal.subject_id}"
        case PrincipalKind.PORTAL:
            return tenant, f"cost:portal:{principal.customer_id or principal.subject_id}"
        case _:
            return tenant, "cost:users"


@dataclass(frozen=True, slots=True)
class CostReport:
    requested: int
    actual: int
    decision: Decision | None
    credit: int = 0  # given back, to be settled with the next charge

    def as_extension(self) -> dict[str, Any]:
        throttle = None
        if self.decision is not None:
            capacity = self.decision.capacity
            available = max(0.0, min(capacity, self.decision.remaining + self.credit))
            throttle = {
                "maximumAvailable": capacity,
                "currentlyAvailable": math.floor(available),
                "restoreRate": self.decision.leak_per_second,
            }
        return {
            "requestedQueryCost": self.requested,
            "actualQueryCost": self.actual,
            "throttleStatus": throttle,
        }


class QueryCost(SchemaExtension):
    """Refuses a query above the maximum cost or beyond its caller's budget, before execution,
    and reports the cost of every executed one in ``extensions.cost``."""

    def __init__(self, policy: CostPolicy, credits: Credits) -> None:
        self.policy = policy
        self.credits = credits
        self.report: CostReport | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        context: Context = ec.context
        assert ec.graphql_document is not None
        try:
            variables = ec.variables if isinstance(ec.variables, dict) else None
            requested = requested_cost(
                ec.schema._schema, ec.graphql_document, ec.operation_name, variables
            )
        except Exception as error:  # a query that cannot be costed does not run
            ec.result = _failure(error)
            yield
            return
        self.report = CostReport(requested, 0, None)
        if requested > self.policy.max_cost:
            ec.result = _refusal(
                f"This query may return {requested:,} objects; at most"
                f" {self.policy.max_cost:,} are allowed. Ask for smaller pages or fewer levels.",
                QUERY_TOO_COMPLEX,
                cost=requested,
                maxCost=self.policy.max_cost,
            )
            yield
            return
        account = account_of(context.principal) if self.policy.budget else None
        decision: Decision | None = None
        if account is not None and self.policy.budget is not None:
            owed = self.credits.claim(account)
            try:
                decision = await _charge(context, account, requested - owed, self.policy.budget)
            except Exception as error:  # nothing ran yet: answer as the error deserves
                self.credits.give(account, owed)
                ec.result = _failure(error)
                yield
                return
            self.report = CostReport(requested, 0, decision)
            if not decision.allowed:
                self.credits.give(account, owed)
                wait = math.ceil(decision.retry_after)
                _tell_http(context, 429, wait)
                ec.result = _refusal(
                    f"Query cost budget exhausted; retry in {wait} s.",
                    RATE_LIMITED,
                    cost=requested,
                    retryAfter=wait,
                )
                yield
                return
        yield
        actual = returned_objects(getattr(ec.result, "data", None))
        if account is not None:
            self.credits.give(account, requested - actual)
        self.report = CostReport(requested, actual, decision, requested - actual)

    def get_results(self) -> dict[str, Any]:
        return {"cost": self.report.as_extension()} if self.report is not None else {}


async def _charge(context: Context, account: Account, cost: float, bucket: Bucket) -> Decision:
    """``limits.buckets.take``, but on PostgreSQL without waiting for the commit to reach disk:
    every query pays for this write, and a level lost in a crash costs nothing. (A write of the
    context's: the caller's read, held for the first read, is given back first.)"""
    async with context.write(TenantScope.system(), durable=False) as session:
        return await take_in(session, *account, cost, bucket)


def _refusal(message: str, code: str, **extensions: Any) -> GraphQLExecutionResult:
    return GraphQLExecutionResult(data=None, errors=[ApiError(message, code, **extensions)])


def _failure(error: Exception) -> GraphQLExecutionResult:
    known = overloaded(error)
    if known is None:
        log.error("unexpected error before execution", exc_info=error)
        return _refusal("Internal server error.", INTERNAL)
    return _refusal(known[1], known[0])


def _tell_http(context: Context, status: int, retry_after: int) -> None:
    response = context.response
    if response is not None:
        response.status_code = status
        response.headers["Retry-After"] = str(retry_after)
