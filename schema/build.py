"""Assembles the schema from each entity's queries and mutations, with its limits and caches."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from schema.api_clients import ApiClient, ApiClientMutations, ApiClientQueries
from schema.audit import AuditEvent, AuditQueries
from schema.catalog import CatalogMutations, CatalogQueries, Product, Vendor
from schema.customers import Customer, CustomerMutations, CustomerQueries
from schema.errors import CodedErrors
from schema.invoices import Invoice, InvoiceMutations, InvoiceQueries, Payment
from schema.nodes import NodeQueries
from schema.notification_settings import (
    NotificationSettingsMutations,
    NotificationSettingsQueries,
)
from schema.notifications import NotificationMutations
from schema.portal import PortalMutations, PortalToken
from schema.prices import PriceMutations, PriceOverride, PriceQueries
from schema.resellers import Reseller, ResellerMutations, ResellerQueries
from schema.scalars import SCALAR_OVERRIDES
from schema.sessions import SessionMutations
from schema.storable_text import StorableText
from schema.subscriptions import (
    Subscription,
    SubscriptionMutations,
    SubscriptionQueries,
    UsageRecord,
)
from schema.users import User, UserMutations, UserQueries
from schema.viewer import ViewerQueries

MAX_DEPTH = 12
MAX_ALIASES = 15
MAX_TOKENS = 2000

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
    ),
)
Mutation.__strawberry_definition__.description = "Everything that changes something."  # type: ignore[attr-defined]


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors (bad input, refused access) are answers, not incidents: not logged.
        Unexpected ones are logged, with their traceback, where they are masked (CodedErrors)."""


def build_schema(*, development: bool = False) -> strawberry.Schema:
    return Schema(
        query=Query,
        mutation=Mutation,
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
            Subscription,
            UsageRecord,
            Invoice,
            Payment,
        ],
        extensions=[
            lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
            lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
            lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
            lambda: ParserCache(maxsize=512),
            lambda: ValidationCache(maxsize=512),
            StorableText,
            CodedErrors,
        ],
        scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
        config=StrawberryConfig(disable_field_suggestions=not development, sort_schema=True),
    )
