"""API clients: a reseller's own back end calling the API with OAuth2 client credentials.

The secret is shown once, when the client is made, and stored as a SHA-256 hash. Scopes gate what
the client may do (access.md); a client can never be given more than its creator may do.
"""

from __future__ import annotations

import hmac
import secrets
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import ApiClient
from auth.permissions import has_billing_access
from auth.principal import Principal
from auth.repositories import ApiClientRepository, digest
from core.clock import utcnow
from core.errors import ErrorCode, NotFound, ValidationFailed
from core.ids import new_id
from core.validation import required_text
from db.scope import TenantScope
from tenants.audit import record
from tenants.repositories import ResellerRepository

SCOPES = ("customers:read", "customers:write", "billing:read", "billing:write", "settings:write")
# Writing implies reading what you write.
IMPLIED = {"customers:write": "customers:read", "billing:write": "billing:read"}
BILLING_SCOPES = frozenset({"billing:read", "billing:write"})
CLIENT_ID_PREFIX = "cb_"


def secret_matches(client: ApiClient, secret: str) -> bool:
    return hmac.compare_digest(client.secret_hash, digest(secret))


def normalize_scopes(requested: list[str]) -> list[str]:
    unknown = sorted({s for s in requested if s not in SCOPES})
    if unknown:
        raise ValidationFailed(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}",
            field="scopes",
            code=ErrorCode.INVALID_SCOPE,
        )
    if not requested:
        raise ValidationFailed("give the client at least one scope", field="scopes")
    wanted = set(requested) | {IMPLIED[s] for s in requested if s in IMPLIED}
    return [s for s in SCOPES if s in wanted]


async def create_api_client(
    session: AsyncSession,
    principal: Principal,
    scope: TenantScope,
    name: str,
    scopes: list[str],
    reseller_id: uuid.UUID | None = None,
) -> tuple[ApiClient, str]:
    """A new client and its secret, which is never shown again."""
    reseller_id = reseller_id or scope.reseller_id
    if reseller_id is None:
        raise ValidationFailed("name the reseller the client works for", field="resellerId")
    if await ResellerRepository(session, scope).get(reseller_id) is None:
        raise NotFound("reseller", field="resellerId")
    label = required_text(name, field="name")
    granted = normalize_scopes(scopes)
    if BILLING_SCOPES & set(granted) and not has_billing_access(principal):
        raise ValidationFailed(
            "only a user with billing access can give a client billing scopes",
            field="scopes",
            code=ErrorCode.BILLING_ACCESS_REQUIRED,
        )
    secret = secrets.token_urlsafe(32)
    client = ApiClient(
        reseller_id=reseller_id,
        id=new_id(),
        name=label,
        client_id=CLIENT_ID_PREFIX + secrets.token_urlsafe(16),
        secret_hash=digest(secret),
        scopes=" ".join(granted),
    )
    session.add(client)
    record(
        session,
        principal.actor,
        "api_client.created",
        "ApiClient",
        client.id,
        reseller_id,
        scopes=granted,
    )
    await session.flush()
    return client, secret


async def revoke_api_client(
    session: AsyncSession, principal: Principal, scope: TenantScope, api_client_id: uuid.UUID
) -> ApiClient:
    """From the next request on, neither its secret nor any token it holds works."""
    client = await ApiClientRepository(session, scope).get(api_client_id)
    if client is None:
        raise NotFound("API client", field="apiClientId")
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        record(
            session,
            principal.actor,
            "api_client.revoked",
            "ApiClient",
            client.id,
            client.reseller_id,
        )
    await session.flush()
    return client
