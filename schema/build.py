"""Assembles the schema from each entity's queries and mutations, with its limits and caches."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.api_clients import ApiClient, ApiClientMutations, ApiClientQueries
from schema.audit import AuditEvent, AuditQueries
from schema.catalog import CatalogMutations, CatalogQueries, Product, Vendor
from schema.compiled import CompiledExecutor
from schema.cost import CostPolicy, Credits, QueryCost
from schema.customers import Customer, CustomerMutations, CustomerQueries
from schema.errors import CodedErrors
from schema.events import EventQueries
from schema.execution import PlainFieldsExecutor
from schema.introspection import IntrospectionForCallers
from schema.invoices import Invoice, InvoiceMutations, InvoiceQueries, Payment
from schema.nodes import NodeQueries
from schema.notification_settings import (
    NotificationSettingsMutations,
    NotificationSettingsQueries,
)
from schema.notifications import NotificationMutations
from schema.payments import PaymentMutations
from schema.portal import PortalMutations, PortalToken
from schema.prices import PriceMutations, PriceOverride, PriceQueries
from schema.query_limits import alias_limit, depth_limit
from schema.resellers import Reseller, ResellerMutations, ResellerQueries
from schema.scalars import SCALAR_OVERRIDES
from schema.sessions import SessionMutations
from schema.standing import AccountStanding
from schema.storable_text import StorableText
from schema.streams import Subscription
from schema.subscriptions import (
    CustomerSubscription,
    SubscriptionMutations,
    SubscriptionQueries,
    UsageRecord,
)
from schema.users import User, UserMutations, UserQueries
from schema.viewer import ViewerQueries
from schema.webhooks import WebhookMutations, WebhookQueries

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2000
CACHE_SIZE = 512

# Made once: ValidationCache keys an entry by the document *and the rule classes*, so a rule class
# made per request (as strawberry's QueryDepthLimiter and MaxAliasesLimiter make theirs) never hits.
QUERY_LIMITS = (depth_limit(MAX_DEPTH), alias_limit(MAX_ALIASES))

Query = merge_types(
    "Query",
    (
        ViewerQueries,
        NodeQueries,
        ResellerQueries,
        CustomerQueries,
        UserQueries,
        ApiClientQueries,
        AuditQueries,
        EventQueries,
        WebhookQueries,
        CatalogQueries,
        PriceQueries,
        SubscriptionQueries,
        InvoiceQueries,
        NotificationSettingsQueries,
    ),
)
Query.__strawberry_definition__.description = "Everything that can be read."  # type: ignore[attr-defined]
Mutation = merge_types(
    "Mutation",
    (
        SessionMutations,
        UserMutations,
        ResellerMutations,
        CustomerMutations,
        ApiClientMutations,
        PortalMutations,
        CatalogMutations,
        PriceMutations,
        SubscriptionMutations,
        InvoiceMutations,
        NotificationSettingsMutations,
        NotificationMutations,
        PaymentMutations,
        WebhookMutations,
    ),
)
Mutation.__strawberry_definition__.description = "Everything that changes something."  # type: ignore[attr-defined]


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors (bad input, refused access) are answers, not incidents: not logged.
        Unexpected ones are logged, with their traceback, where they are masked (CodedErrors)."""


class QueryLimits(AddValidationRules):
    """Depth and alias limits, validated with the document (and cached with it)."""

    def __init__(self) -> None:
        super().__init__(list(QUERY_LIMITS))


def build_schema(
    *,
    development: bool = False,
    cost: CostPolicy | None = None,
    plain_fields: bool = True,
    compiled: bool = True,
) -> strawberry.Schema:
    """``compiled``: selections met before answered by generated builders (schema/compiled.py),
    the rest with ``plain_fields``: graphql-core's executor, plain fields read directly
    (schema/execution.py). ``plain_fields=False``: graphql-core's executor as it is, compiled or
    not. None of them changes anything in an answer."""
    policy = cost or CostPolicy()
    credits = Credits()
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[
            Reseller,
            Customer,
            User,
            ApiClient,
            PortalToken,
            AuditEvent,
            Vendor,
            Product,
            PriceOverride,
            CustomerSubscription,
            UsageRecord,
            Invoice,
            Payment,
        ],
        extensions=[
            QueryLimits,
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=CACHE_SIZE),
            lambda: ValidationCache(maxsize=CACHE_SIZE),
            StorableText,
            AccountStanding,
            lambda: QueryCost(policy, credits),
            CodedErrors,
            *([] if development else [IntrospectionForCallers]),
        ],
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        execution_context_class=(
            (CompiledExecutor if compiled else PlainFieldsExecutor) if plain_fields else None
        ),
        config=StrawberryConfig(disable_field_suggestions=not development, sort_schema=True),
    )
