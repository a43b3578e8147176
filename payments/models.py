"""Cards on file and what the sandbox gateway has charged."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Enum, ForeignKeyConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantKeyed, TenantOwned
from db.database import CUSTOMER_KEYED


class CardStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"  # the card charges are made with
    REPLACED = "REPLACED"  # a newer card took its place


class PaymentMethod(TenantOwned, Base):
    """A card held by a payment gateway: only the gateway's references and what may be shown
    (brand, last four digits, expiry), never a number. ``customer_id`` None is the reseller's
    own card, the one the platform charges."""

    __tablename__ = "payment_methods"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "customer_id"],
            ["customers.reseller_id", "customers.id"],
            ondelete="RESTRICT",
            name="fk_payment_methods_reseller_id_customers",
        ),
        Index("ix_payment_methods_reseller_id_customer_id", "reseller_id", "customer_id"),
    )

    customer_id: Mapped[uuid.UUID | None]
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_ref: Mapped[str] = mapped_column(String(200))
    gateway_customer_ref: Mapped[str | None] = mapped_column(String(200))
    brand: Mapped[str] = mapped_column(String(20))
    last4: Mapped[str] = mapped_column(String(4))
    exp_month: Mapped[int] = mapped_column(Integer)
    exp_year: Mapped[int] = mapped_column(Integer)
    status: Mapped[CardStatus] = mapped_column(
        Enum(CardStatus, native_enum=False, length=20, create_constraint=True),
        default=CardStatus.ACTIVE,
    )


CUSTOMER_KEYED[PaymentMethod] = PaymentMethod.customer_id


class SandboxCharge(TenantKeyed, Base):
    """The sandbox gateway's own ledger: what it charged, by the idempotency key it was given,
    so that any worker can ask it what became of an attempt (as a real gateway is asked)."""

    __tablename__ = "sandbox_charges"
    __table_args__ = (Index("uq_sandbox_charges_key", "reseller_id", "key", unique=True),)

    key: Mapped[str] = mapped_column(String(200))
    card_ref: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal]
    currency: Mapped[str] = mapped_column(String(3))
    succeeded: Mapped[bool]
    decline_code: Mapped[str | None] = mapped_column(String(60))
    charged_at: Mapped[datetime]
