"""Credentials: refresh tokens, invitation links, API clients and customer portal tokens.

Every secret is stored as a SHA-256 hash: each is random and long, so a slow hash adds nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKeyConstraint, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantKeyed, TenantOwned


class RefreshToken(TenantKeyed, Base):
    """Stored hashed, rotated on every use, revoked as a family when a spent one comes back.

    The family is one sign-in: its id travels in the access tokens it issues (``sid``), so
    revoking the family ends them too. ``reseller_id`` is the account's reseller, or the
    platform's tenant id for a platform admin."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (
        Index("ix_refresh_tokens_reseller_id_family_id", "reseller_id", "family_id"),
        Index("uq_refresh_tokens_token_hash", "reseller_id", "token_hash", unique=True),
        # Sign-in code finds a presented token by its hash alone (the tenant is not known yet).
        Index("ix_refresh_tokens_token_hash", "token_hash"),
    )

    token_hash: Mapped[str] = mapped_column(String(64))
    family_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    subject: Mapped[str] = mapped_column(String(80))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ActivationToken(TenantOwned, Base):
    """The one-time link of an invitation: stored hashed, spent on use, expiring."""

    __tablename__ = "activation_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "user_id"], ["users.reseller_id", "users.id"], ondelete="CASCADE"
        ),
        Index("uq_activation_tokens_token_hash", "reseller_id", "token_hash", unique=True),
        Index("ix_activation_tokens_token_hash", "token_hash"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    token_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ApiClient(TenantOwned, Base):
    """A reseller's own back end: OAuth2 client credentials, the secret stored hashed."""

    __tablename__ = "api_clients"
    __table_args__ = (
        Index("uq_api_clients_client_id", "reseller_id", "client_id", unique=True),
        # The token endpoint finds a client by its public id alone (the id names the tenant).
        Index("ix_api_clients_client_id", "client_id"),
    )

    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(200))  # space-separated, as OAuth2 writes them
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())


class PortalToken(TenantOwned, Base):
    """A customer portal's access: one customer, an expiry, revocable."""

    __tablename__ = "portal_tokens"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "customer_id"],
            ["customers.reseller_id", "customers.id"],
            ondelete="CASCADE",
        ),
        Index("ix_portal_tokens_reseller_id_customer_id", "reseller_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
