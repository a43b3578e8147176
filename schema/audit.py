"""The audit log: auditEvents (OWNER and ADMIN of a reseller; platform admins see every entry).

Events about billing (invoices, billing runs, payments, prices, custom invoice fields, portal
tokens) are billing data: without billing access they are left out of the list, in SQL so pages
and totalCount agree, and node(id:) on one answers BILLING_ACCESS_REQUIRED.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.scalars import JSON

from auth import permissions as rules
from core.errors import ValidationFailed
from schema.context import Info
from schema.enums import described_enum
from schema.permissions import CanReadAudit, HasBillingAccess
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    from_global_id,
    page_request,
    resolve_connection,
    to_global_id,
)
from tenants.audit import AuditEvent as AuditRow
from tenants.audit import AuditRepository, is_billing_event


class ActorKind(enum.StrEnum):
    USER = "USER"
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    API_CLIENT = "API_CLIENT"
    PORTAL = "PORTAL"
    SYSTEM = "SYSTEM"


described_enum(
    ActorKind,
    description="What kind of caller did something.",
    values={
        ActorKind.USER: "A reseller's user.",
        ActorKind.PLATFORM_ADMIN: "Platform staff.",
        ActorKind.API_CLIENT: "A reseller's back end, through an API client.",
        ActorKind.PORTAL: "A customer, through a customer portal.",
        ActorKind.SYSTEM: "channelbill itself: a job, a limit.",
    },
)


@strawberry.type(description="Who acted, as recorded at the time.")
class AuditActor:
    kind: ActorKind = strawberry.field(description="What kind of caller it was.")
    actor_id: strawberry.ID | None = strawberry.field(
        description=(
            "Global id of the actor, if any. Not an `id`: the name is a snapshot, and a client"
            " cache must not merge it with the live user or client."
        )
    )
    name: str = strawberry.field(description="Email of a person, name of a client.")


_ACTOR_TYPES = {"USER": "User", "PLATFORM_ADMIN": "PlatformAdmin", "API_CLIENT": "ApiClient"}


@strawberry.type(description="One change to accounts or access: who, what, when, on what.")
class AuditEvent(Node):
    action: str = strawberry.field(description='What happened, e.g. "user.invited".')
    actor: AuditActor = strawberry.field(description="Who did it.")
    object_type: str = strawberry.field(description="The kind of object it happened to.")
    object_id: strawberry.ID | None = strawberry.field(
        description="Global id of that object (pass it to node(id:))."
    )
    details: JSON = strawberry.field(description="Particulars of the change (never secrets).")
    created_at: datetime = strawberry.field(description="When.")

    @classmethod
    def from_model(cls, row: AuditRow) -> AuditEvent:
        actor_type = _ACTOR_TYPES.get(row.actor_kind, row.actor_kind.title())
        return cls(
            id=strawberry.ID(to_global_id("AuditEvent", row.id)),
            action=row.action,
            actor=AuditActor(
                kind=ActorKind(row.actor_kind),
                actor_id=(
                    strawberry.ID(to_global_id(actor_type, row.actor_id)) if row.actor_id else None
                ),
                name=row.actor_name,
            ),
            object_type=row.object_type,
            object_id=(
                strawberry.ID(to_global_id(row.object_type, row.object_id))
                if row.object_id
                else None
            ),
            details=row.details,
            created_at=row.created_at,
        )


def check_billing_access(info: Info, row: AuditRow) -> None:
    """An event fetched by id: one about billing needs billing access, as its list does."""
    if is_billing_event(row.action, row.object_type):
        HasBillingAccess().has_permission(None, info)


@strawberry.type(description="A page of audit events.")
class AuditEventConnection(Connection[AuditEvent]):
    pass


@strawberry.type
class AuditQueries:
    @strawberry.field(
        permission_classes=[CanReadAudit],
        description=(
            "Changes to accounts and access, oldest first (use last: for the newest):"
            " your reseller's for OWNER and ADMIN, every one for platform admins. Events about"
            " billing (invoices, billing runs, payments, prices, custom invoice fields, portal"
            " tokens) only with billing access."
        ),
    )
    async def audit_events(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        action: Annotated[
            str | None, strawberry.argument(description='Only this action, e.g. "user.invited".')
        ] = None,
        object_id: Annotated[
            strawberry.ID | None, strawberry.argument(description="Only events about this object.")
        ] = None,
    ) -> AuditEventConnection:
        about = None
        if object_id is not None:
            decoded = from_global_id(object_id)
            if decoded is None:
                raise ValidationFailed("not an id", field="objectId")
            about = decoded[1]
        billing = rules.has_billing_access(info.context.caller)
        return await resolve_connection(
            info,
            AuditEventConnection,
            AuditRepository,
            page_request(first, after, last, before),
            AuditEvent.from_model,
            lambda repo: repo.filtered(action, about, billing=billing),
        )
