"""Customer portal tokens: scoped to one customer, expiring, revocable.

The token is a JWT with its own audience (it is never accepted where a user's is expected, nor the
reverse); its row is checked on every request, so a revocation takes effect at once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from auth.models import PortalToken
from auth.principal import Principal
from auth.repositories import PortalTokenRepository
from auth.tokens import PORTAL_AUDIENCE, IssuedToken, TokenSigner
from core.clock import utcnow
from core.errors import NotFound, ValidationFailed
from core.ids import new_id
from db.scope import TenantScope
from tenants.audit import record
from tenants.repositories import CustomerRepository

MIN_TTL_MINUTES = 1
MAX_TTL_MINUTES = 24 * 60
DEFAULT_TTL_MINUTES = 60
# The page a reseller sends its customer to. The token rides in the fragment, which a browser
# never sends to a server: it reaches no access log and no Referer.
PAGE_PATH = "/portal"


def portal_link(base_url: str, token: str) -> str:
    """The link that opens the customer portal page with ``token``."""
    return f"{base_url.rstrip('/')}{PAGE_PATH}#token={token}"


async def create_portal_token(
    session: AsyncSession,
    principal: Principal,
    scope: TenantScope,
    signer: TokenSigner,
    customer_id: uuid.UUID,
    ttl_minutes: int = DEFAULT_TTL_MINUTES,
) -> tuple[PortalToken, IssuedToken]:
    customer = await CustomerRepository(session, scope).get(customer_id)
    if customer is None:
        raise NotFound("customer", field="customerId")
    if not MIN_TTL_MINUTES <= ttl_minutes <= MAX_TTL_MINUTES:
        raise ValidationFailed(
            f"ttlMinutes must be between {MIN_TTL_MINUTES} and {MAX_TTL_MINUTES}",
            field="ttlMinutes",
        )
    row = PortalToken(
        reseller_id=customer.reseller_id,
        id=new_id(),
        customer_id=customer.id,
        expires_at=utcnow() + timedelta(minutes=ttl_minutes),
    )
    session.add(row)
    issued = signer.issue(
        f"portal:{row.id}",
        PORTAL_AUDIENCE,
        ttl_minutes * 60,
        rid=str(customer.reseller_id),
        cid=str(customer.id),
    )
    record(
        session,
        principal.actor,
        "portal_token.created",
        "PortalToken",
        row.id,
        customer.reseller_id,
        customerId=str(customer.id),
        ttlMinutes=ttl_minutes,
    )
    await session.flush()
    return row, issued


async def revoke_portal_token(
    session: AsyncSession, principal: Principal, scope: TenantScope, token_id: uuid.UUID
) -> PortalToken:
    row = await PortalTokenRepository(session, scope).get(token_id)
    if row is None:
        raise NotFound("portal token", field="portalTokenId")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record(
            session,
            principal.actor,
            "portal_token.revoked",
            "PortalToken",
            row.id,
            row.reseller_id,
            customerId=str(row.customer_id),
        )
    await session.flush()
    return row
