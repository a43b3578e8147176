"""Platform admins, resellers (the tenants), their users and customers."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, Index, Integer, Numeric, String, func
from sqlalchemy.orm import Mapped, mapped_column

from core.ids import new_id
from db.base import Base, TenantOwned, Timestamped, string_enum
from db.database import CUSTOMER_KEYED, TENANT_ROOTS


class Role(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class UserStatus(enum.StrEnum):
    INVITED = "INVITED"
    ACTIVE = "ACTIVE"
    DISABLED = "DISABLED"


class AccountStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"  # a charge failed; retries are scheduled
    DEACTIVATED = "DEACTIVATED"  # the last retry failed: billing only until reactivated


class PlatformAdmin(Timestamped, Base):
    """Staff of the distributor: may act on every reseller."""

    __tablename__ = "platform_admins"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[UserStatus] = mapped_column(string_enum(UserStatus), default=UserStatus.ACTIVE)


class Reseller(Timestamped, Base):
    """A partner company: the tenant. Its own id is the tenant key of every row it owns."""

    __tablename__ = "resellers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    status: Mapped[AccountStatus] = mapped_column(
        string_enum(AccountStatus), default=AccountStatus.ACTIVE
    )
    invoice_prefix: Mapped[str] = mapped_column(String(12))
    # Collecting the platform's invoices from this reseller (payments.dunning).
    autopay: Mapped[bool] = mapped_column(Boolean, default=True)
    dunning_retries: Mapped[int] = mapped_column(Integer, default=0)  # scheduled ones, this cycle
    dunning_since: Mapped[datetime | None]
    last_failure_reason: Mapped[str | None] = mapped_column(String(300))
    last_decline_code: Mapped[str | None] = mapped_column(String(60))


TENANT_ROOTS.append(Reseller)


class User(TenantOwned, Base):
    """A person working for a reseller."""

    __tablename__ = "users"
    __table_args__ = (
        # An address is unique within a reseller; the same person may work for two resellers.
        Index("uq_users_email", "reseller_id", "email", unique=True),
        # Signing in finds an address's accounts across resellers (the tenant is not known yet).
        Index("ix_users_email", "email"),
    )

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(string_enum(Role))
    billing_access: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[UserStatus] = mapped_column(string_enum(UserStatus), default=UserStatus.INVITED)
    password_hash: Mapped[str | None] = mapped_column(String(200))

    @property
    def has_billing_access(self) -> bool:
        """The owner always has billing access, whatever the stored flag says."""
        return self.role is Role.OWNER or self.billing_access


class Customer(TenantOwned, Base):
    """A reseller's end customer: a billing account."""

    __tablename__ = "customers"
    __table_args__ = (Index("ix_customers_reseller_id_name", "reseller_id", func.lower("name")),)

    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    tax_rate: Mapped[Decimal] = mapped_column(Numeric(7, 4), default=Decimal("0"))
    tax_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(1000))  # postal, one line per line
    status: Mapped[AccountStatus] = mapped_column(
        string_enum(AccountStatus), default=AccountStatus.ACTIVE
    )


CUSTOMER_KEYED[Customer] = Customer.id
