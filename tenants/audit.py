"""The audit log: who did what, when, to which object; written in the transaction of the change."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, ColumnElement, Select, String, or_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantKeyed
from db.scope import PLATFORM_TENANT_ID
from tenants.repositories import ScopedRepository


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acted, as the log remembers them (the name is a snapshot: people get renamed)."""

    kind: str  # USER, PLATFORM_ADMIN, API_CLIENT, PORTAL, SYSTEM
    id: uuid.UUID | None
    name: str

    @classmethod
    def system(cls) -> Actor:
        return cls("SYSTEM", None, "channelbill")


class AuditEvent(TenantKeyed, Base):
    __tablename__ = "audit_events"

    actor_kind: Mapped[str] = mapped_column(String(20))
    actor_id: Mapped[uuid.UUID | None]
    actor_name: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[uuid.UUID | None]
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: uuid.UUID | None,
    reseller_id: uuid.UUID | None,
    **details: Any,
) -> AuditEvent:
    """Add an entry to the caller's unit of work: it commits, or vanishes, with the change.
    ``reseller_id`` None files it under the platform."""
    event = AuditEvent(
        reseller_id=PLATFORM_TENANT_ID if reseller_id is None else reseller_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_name=actor.name,
        action=action,
        object_type=object_type,
        object_id=object_id,
        details={key: value for key, value in details.items() if value is not None},
    )
    session.add(event)
    return event


# Events about billing: invoices and billing runs, custom invoice fields, payments and payment
# methods, prices, portal tokens. Their object ids, amounts, numbers and statuses are billing data
# (access.md), so they are seen only with billing access; told apart by what every row already
# holds, the object's type and the action's noun.
BILLING_OBJECT_TYPES = frozenset(
    {
        "Invoice",
        "InvoiceFieldDefinition",
        "Payment",
        "PaymentMethod",
        "PriceOverride",
        "PortalToken",
    }
)
BILLING_ACTION_PREFIXES = (
    "invoice.",
    "invoices.",
    "invoice_field.",
    "payment.",
    "payments.",
    "payment_method.",
    "price.",
    "prices.",
    "portal_token.",
)


def is_billing_event(action: str, object_type: str) -> bool:
    return object_type in BILLING_OBJECT_TYPES or action.startswith(BILLING_ACTION_PREFIXES)


def _billing_events() -> ColumnElement[bool]:
    """``is_billing_event`` in SQL, so a filtered page and its totalCount agree."""
    return or_(
        AuditEvent.object_type.in_(sorted(BILLING_OBJECT_TYPES)),
        *(AuditEvent.action.startswith(p, autoescape=True) for p in BILLING_ACTION_PREFIXES),
    )


class AuditRepository(ScopedRepository[AuditEvent]):
    model = AuditEvent

    def filtered(
        self, action: str | None, object_id: uuid.UUID | None, *, billing: bool = True
    ) -> Select[Any]:
        """The log, or (``billing`` False) the log without the events about billing."""
        statement = self.select()
        if not billing:
            statement = statement.where(~_billing_events())
        if action:
            statement = statement.where(AuditEvent.action == action)
        if object_id is not None:
            statement = statement.where(AuditEvent.object_id == object_id)
        return statement
