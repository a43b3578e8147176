"""What the event log stores: events, webhook endpoints and the deliveries of events to them."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    FetchedValue,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from db.base import Base, TenantKeyed, TenantOwned, string_enum
from db.database import CUSTOMER_KEYED


class Event(TenantKeyed, Base):
    """One change, as an integrator sees it: ``payload`` is a snapshot of the object in the
    API's spelling (camelCase fields, global ids, money as decimal strings). Its id is a UUIDv7,
    made when it was recorded; readers go by (txid, id), the order events became final
    (events/stream.py), so that one committed late is not passed over."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_occurred_at", "occurred_at"),
        Index("ix_events_stream", "reseller_id", "txid", "id"),
    )

    type: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime]
    object_id: Mapped[str] = mapped_column(String(120))  # the object's global id
    customer_id: Mapped[uuid.UUID | None]  # the customer it is about, if any (portals)
    billing: Mapped[bool] = mapped_column(Boolean)  # seen only with billing access
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The writing transaction's id on PostgreSQL, 0 on SQLite (migration 0013): the stream order.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=FetchedValue(), deferred=True)


CUSTOMER_KEYED[Event] = Event.customer_id


class EndpointStatus(enum.StrEnum):
    ENABLED = "ENABLED"
    DISABLED = "DISABLED"


class WebhookEndpoint(TenantOwned, Base):
    """Where a reseller wants events POSTed. ``secret`` is the Standard Webhooks signing secret
    (``whsec_`` + base64); after a rotation ``previous_secret`` signs too until it expires."""

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)
    status: Mapped[EndpointStatus] = mapped_column(string_enum(EndpointStatus))
    disabled_reason: Mapped[str | None] = mapped_column(String(300))
    secret: Mapped[str] = mapped_column(String(200))
    previous_secret: Mapped[str | None] = mapped_column(String(200))
    previous_secret_expires_at: Mapped[datetime | None]
    updated_at: Mapped[datetime | None]


class WebhookDeliveryStatus(enum.StrEnum):
    PENDING = "PENDING"  # queued, or failed and to be tried again
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"  # given up: out of attempts, or the endpoint was disabled


class WebhookDelivery(TenantOwned, Base):
    """One event to one endpoint, with the outcome of its latest attempt."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(
            ["reseller_id", "endpoint_id"],
            ["webhook_endpoints.reseller_id", "webhook_endpoints.id"],
            ondelete="CASCADE",
            name="fk_webhook_deliveries_reseller_id_webhook_endpoints",
        ),
        ForeignKeyConstraint(
            ["reseller_id", "event_id"],
            ["events.reseller_id", "events.id"],
            ondelete="CASCADE",
            name="fk_webhook_deliveries_reseller_id_events",
        ),
        Index("ix_webhook_deliveries_endpoint", "reseller_id", "endpoint_id", "id"),
        Index("ix_webhook_deliveries_event", "reseller_id", "event_id"),
    )

    endpoint_id: Mapped[uuid.UUID]
    event_id: Mapped[uuid.UUID]
    status: Mapped[WebhookDeliveryStatus] = mapped_column(string_enum(WebhookDeliveryStatus))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None]
    response_status: Mapped[int | None] = mapped_column(Integer)
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(String(300))
    next_attempt_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
