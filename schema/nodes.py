"""node(id:) and nodes(ids:): any object by its global id, within the caller's tenant.

An id of another tenant's object answers exactly like an id that does not exist: null and a
NOT_FOUND error. Each type names the rule a caller must pass to fetch it this way, the same rule
that guards its list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from strawberry.dataloader import DataLoader

from schema.api_clients import ApiClient
from schema.audit import AuditEvent, check_billing_access
from schema.catalog import Product, Vendor
from schema.context import Info, Loaders
from schema.customers import Customer
from schema.errors import NOT_FOUND, ApiError
from schema.events import Event, check_event_access
from schema.invoices import Invoice, Payment
from schema.permissions import (
    CanManageUsers,
    CanManageWebhooks,
    CanReadAudit,
    CanReadCustomers,
    CanReadEvents,
    CanReadTenant,
    CanWriteBilling,
    HasBillingAccess,
    HasResellerBillingAccess,
    IsAuthenticated,
    Rule,
)
from schema.portal import PortalToken
from schema.prices import PriceOverride
from schema.relay import Node, from_global_id
from schema.resellers import Reseller
from schema.subscriptions import CustomerSubscription, UsageRecord
from schema.users import User
from schema.webhooks import WebhookEndpoint


@dataclass(frozen=True, slots=True)
class NodeType:
    loader: Callable[[Loaders], DataLoader[Any, Any]]
    convert: Callable[[Any], Node]
    rule: type[Rule]
    # A rule that depends on the row itself (an audit event about billing): raises to refuse.
    check: Callable[[Info, Any], None] | None = None


NODE_TYPES: dict[str, NodeType] = {
    "Reseller": NodeType(
        lambda loaders: loaders.reseller_by_id, Reseller.from_model, CanReadTenant
    ),
    "Customer": NodeType(
        lambda loaders: loaders.customer_by_id, Customer.from_model, CanReadCustomers
    ),
    "User": NodeType(lambda loaders: loaders.user_by_id, User.from_model, CanReadTenant),
    "PlatformAdmin": NodeType(
        lambda loaders: loaders.platform_admin_by_id, User.from_model, CanReadTenant
    ),
    "ApiClient": NodeType(
        lambda loaders: loaders.api_client_by_id, ApiClient.from_model, CanManageUsers
    ),
    "PortalToken": NodeType(
        lambda loaders: loaders.portal_token_by_id, PortalToken.from_model, CanWriteBilling
    ),
    "AuditEvent": NodeType(
        lambda loaders: loaders.audit_event_by_id,
        AuditEvent.from_model,
        CanReadAudit,
        check_billing_access,
    ),
    "Vendor": NodeType(lambda loaders: loaders.vendor_by_id, Vendor.from_model, CanReadTenant),
    "Product": NodeType(lambda loaders: loaders.product_by_id, Product.from_model, CanReadTenant),
    "PriceOverride": NodeType(
        lambda loaders: loaders.price_override_by_id,
        PriceOverride.from_model,
        HasResellerBillingAccess,
    ),
    "CustomerSubscription": NodeType(
        lambda loaders: loaders.subscription_by_id,
        CustomerSubscription.from_model,
        CanReadCustomers,
    ),
    "UsageRecord": NodeType(
        lambda loaders: loaders.usage_record_by_id, UsageRecord.from_model, CanReadCustomers
    ),
    "Invoice": NodeType(
        lambda loaders: loaders.invoice_by_id, Invoice.from_model, HasBillingAccess
    ),
    "Payment": NodeType(
        lambda loaders: loaders.payment_by_id, Payment.from_model, HasBillingAccess
    ),
    "Event": NodeType(
        lambda loaders: loaders.event_by_id, Event.from_model, CanReadEvents, check_event_access
    ),
    "WebhookEndpoint": NodeType(
        lambda loaders: loaders.webhook_endpoint_by_id,
        WebhookEndpoint.from_model,
        CanManageWebhooks,
    ),
}


def _not_found(global_id: str) -> ApiError:
    return ApiError(f"Could not resolve to a node with the global id of {global_id!r}.", NOT_FOUND)


async def resolve_node(info: Info, global_id: str) -> Node:
    decoded = from_global_id(global_id)
    if decoded is None or decoded[0] not in NODE_TYPES:
        raise _not_found(global_id)
    type_name, id_ = decoded
    node_type = NODE_TYPES[type_name]
    node_type.rule().has_permission(None, info)
    row = await node_type.loader(info.context.loaders).load(id_)
    if row is None:
        raise _not_found(global_id)
    if node_type.check is not None:
        node_type.check(info, row)
    return node_type.convert(row)


@strawberry.type
class NodeQueries:
    @strawberry.field(permission_classes=[IsAuthenticated], description="Fetch any object by id.")
    async def node(
        self,
        info: Info,
        id: Annotated[strawberry.ID, strawberry.argument(description="A global id.")],
    ) -> Node | None:
        return await resolve_node(info, id)

    @strawberry.field(
        permission_classes=[IsAuthenticated],
        description="Fetch objects by id; null (with an error) for each one not found.",
    )
    async def nodes(
        self,
        info: Info,
        ids: Annotated[
            list[strawberry.ID], strawberry.argument(description="Global ids, at most 100.")
        ],
    ) -> list[Node | None]:
        if len(ids) > 100:
            raise ApiError("at most 100 ids", "BAD_USER_INPUT")
        # graphql-core awaits each item on its own: one missing id nulls only its own entry.
        results: list[Awaitable[Node]] = [resolve_node(info, id_) for id_ in ids]
        return results  # type: ignore[return-value]
