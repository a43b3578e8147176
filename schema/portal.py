"""Customer portal tokens: createCustomerPortalToken, revokeCustomerPortalToken."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from auth import portal
from auth.models import PortalToken as PortalTokenRow
from auth.tokens import IssuedToken
from schema.context import Info
from schema.errors import Payload
from schema.mutations import INPUT, respond
from schema.permissions import CanReadCustomers, CanWriteBilling
from schema.relay import Node, decode_id, to_global_id

if TYPE_CHECKING:
    from schema.customers import Customer


@strawberry.type(description="Access for a customer portal: one customer, until it expires.")
class PortalToken(Node):
    expires_at: datetime = strawberry.field(description="When it stops working.")
    revoked_at: datetime | None = strawberry.field(description="When it was revoked, if it was.")
    created_at: datetime = strawberry.field(description="When it was made.")
    customer_id: strawberry.Private[uuid.UUID]

    @strawberry.field(
        permission_classes=[CanReadCustomers], description="The customer it gives access to."
    )
    async def customer(
        self, info: Info
    ) -> Annotated[Customer, strawberry.lazy("schema.customers")] | None:
        from schema.customers import Customer

        row = await info.context.loaders.customer_by_id.load(self.customer_id)
        return Customer.from_model(row) if row else None

    @classmethod
    def from_model(cls, row: PortalTokenRow) -> PortalToken:
        return cls(
            id=strawberry.ID(to_global_id("PortalToken", row.id)),
            expires_at=row.expires_at,
            revoked_at=row.revoked_at,
            created_at=row.created_at,
            customer_id=row.customer_id,
        )


@strawberry.input(description="A portal token for one of your customers.")
class CreateCustomerPortalTokenInput:
    customer_id: strawberry.ID = strawberry.field(description="The customer.")
    ttl_minutes: int | None = strawberry.field(
        default=portal.DEFAULT_TTL_MINUTES,
        description="Lifetime, 1 to 1,440 minutes; 60 when unset.",
    )


@strawberry.type(description="Result of createCustomerPortalToken.")
class CreateCustomerPortalTokenPayload(Payload):
    token: str | None = strawberry.field(
        default=None, description="Bearer token for the customer portal (its own audience)."
    )
    url: str | None = strawberry.field(
        default=None,
        description=(
            "The link to send the customer: the portal page, with the token in its fragment"
            " (#token=…), which a browser never sends to a server."
        ),
    )
    expires_at: datetime | None = strawberry.field(default=None, description="When it expires.")
    portal_token: PortalToken | None = strawberry.field(
        default=None, description="The token's record: revoke it by this id."
    )


@strawberry.input(description="A portal token to revoke.")
class RevokeCustomerPortalTokenInput:
    portal_token_id: strawberry.ID = strawberry.field(description="PortalToken id.")


@strawberry.type(description="Result of revokeCustomerPortalToken.")
class RevokeCustomerPortalTokenPayload(Payload):
    portal_token: PortalToken | None = strawberry.field(
        default=None, description="The token, now revoked."
    )


@strawberry.type
class PortalMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteBilling],
        description="A token for a customer portal: that customer's data only, expiring.",
    )
    async def create_customer_portal_token(
        self, info: Info, input: Annotated[CreateCustomerPortalTokenInput, INPUT]
    ) -> CreateCustomerPortalTokenPayload:
        principal, scope = info.context.caller, info.context.scope
        signer = info.context.services.signer
        base_url = info.context.services.links.base_url

        async def create(session: AsyncSession) -> tuple[PortalTokenRow, IssuedToken]:
            customer_id = decode_id(input.customer_id, "Customer", field="customerId")
            return await portal.create_portal_token(
                session,
                principal,
                scope,
                signer,
                customer_id,
                portal.DEFAULT_TTL_MINUTES if input.ttl_minutes is None else input.ttl_minutes,
            )

        def created(made: tuple[PortalTokenRow, IssuedToken]) -> CreateCustomerPortalTokenPayload:
            row, issued = made
            return CreateCustomerPortalTokenPayload(
                token=issued.token,
                url=portal.portal_link(base_url, issued.token),
                expires_at=row.expires_at,
                portal_token=PortalToken.from_model(row),
            )

        return await respond(info, CreateCustomerPortalTokenPayload, create, created)

    @strawberry.mutation(
        permission_classes=[CanWriteBilling],
        description="Revoke a portal token: it stops working on the next request.",
    )
    async def revoke_customer_portal_token(
        self, info: Info, input: Annotated[RevokeCustomerPortalTokenInput, INPUT]
    ) -> RevokeCustomerPortalTokenPayload:
        principal, scope = info.context.caller, info.context.scope

        async def revoke(session: AsyncSession) -> PortalTokenRow:
            token_id = decode_id(input.portal_token_id, "PortalToken", field="portalTokenId")
            return await portal.revoke_portal_token(session, principal, scope, token_id)

        return await respond(
            info,
            RevokeCustomerPortalTokenPayload,
            revoke,
            lambda value: RevokeCustomerPortalTokenPayload(
                portal_token=PortalToken.from_model(value)
            ),
        )
