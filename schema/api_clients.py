"""API clients: type, the apiClients connection, createApiClient, revokeApiClient."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from auth import clients
from auth.models import ApiClient as ApiClientRow
from auth.repositories import ApiClientRepository
from schema.context import Info
from schema.errors import Payload
from schema.mutations import INPUT, respond
from schema.permissions import CanManageUsers
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    decode_id,
    page_request,
    resolve_connection,
    to_global_id,
)


@strawberry.type(description="A reseller's back end, calling the API with client credentials.")
class ApiClient(Node):
    name: str = strawberry.field(description="What it is for.")
    client_id: str = strawberry.field(description="Public id for POST /oauth/token.")
    scopes: list[str] = strawberry.field(description="What its tokens may do.")
    created_at: datetime = strawberry.field(description="When it was made.")
    revoked_at: datetime | None = strawberry.field(
        description="When it was revoked: its secret and tokens no longer work."
    )
    last_used_at: datetime | None = strawberry.field(description="When it last obtained a token.")

    @classmethod
    def from_model(cls, row: ApiClientRow) -> ApiClient:
        return cls(
            id=strawberry.ID(to_global_id("ApiClient", row.id)),
            name=row.name,
            client_id=row.client_id,
            scopes=row.scopes.split(),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            last_used_at=row.last_used_at,
        )


@strawberry.type(description="A page of API clients.")
class ApiClientConnection(Connection[ApiClient]):
    pass


@strawberry.input(description="A new API client.")
class CreateApiClientInput:
    name: str = strawberry.field(description="What it is for.")
    scopes: list[str] = strawberry.field(
        description=(
            "Of customers:read, customers:write, billing:read, billing:write, settings:write;"
            " a write scope brings its read scope. Billing scopes need billing access."
        )
    )
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins name the reseller; others omit it."
    )


@strawberry.type(description="Result of createApiClient: the secret is shown this once.")
class CreateApiClientPayload(Payload):
    api_client: ApiClient | None = strawberry.field(default=None, description="The new client.")
    client_id: str | None = strawberry.field(default=None, description="Its public id.")
    client_secret: str | None = strawberry.field(
        default=None, description="Its secret: shown only now, stored only as a hash."
    )


@strawberry.input(description="An API client to revoke.")
class RevokeApiClientInput:
    api_client_id: strawberry.ID = strawberry.field(description="The client's id.")


@strawberry.type(description="Result of revokeApiClient.")
class RevokeApiClientPayload(Payload):
    api_client: ApiClient | None = strawberry.field(
        default=None, description="The client, now revoked."
    )


@strawberry.type
class ApiClientQueries:
    @strawberry.field(
        permission_classes=[CanManageUsers],
        description="Your reseller's API clients (OWNER and ADMIN), oldest first.",
    )
    async def api_clients(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
    ) -> ApiClientConnection:
        return await resolve_connection(
            info,
            ApiClientConnection,
            ApiClientRepository,
            page_request(first, after, last, before),
            ApiClient.from_model,
        )


@strawberry.type
class ApiClientMutations:
    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Make an API client; its secret is in this payload and never again.",
    )
    async def create_api_client(
        self, info: Info, input: Annotated[CreateApiClientInput, INPUT]
    ) -> CreateApiClientPayload:
        principal, scope = info.context.caller, info.context.scope

        async def create(session: AsyncSession) -> tuple[ApiClientRow, str]:
            reseller_id: uuid.UUID | None = None
            if input.reseller_id is not None:
                reseller_id = decode_id(input.reseller_id, "Reseller", field="resellerId")
            return await clients.create_api_client(
                session, principal, scope, input.name, input.scopes, reseller_id
            )

        def created(made: tuple[ApiClientRow, str]) -> CreateApiClientPayload:
            row, secret = made
            return CreateApiClientPayload(
                api_client=ApiClient.from_model(row), client_id=row.client_id, client_secret=secret
            )

        return await respond(info, CreateApiClientPayload, create, created)

    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Revoke an API client: its secret and tokens stop working at once.",
    )
    async def revoke_api_client(
        self, info: Info, input: Annotated[RevokeApiClientInput, INPUT]
    ) -> RevokeApiClientPayload:
        principal, scope = info.context.caller, info.context.scope

        async def revoke(session: AsyncSession) -> ApiClientRow:
            client_id = decode_id(input.api_client_id, "ApiClient", field="apiClientId")
            return await clients.revoke_api_client(session, principal, scope, client_id)

        return await respond(
            info,
            RevokeApiClientPayload,
            revoke,
            lambda value: RevokeApiClientPayload(api_client=ApiClient.from_model(value)),
        )
