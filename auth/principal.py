"""Who is calling, as read from the database on every request."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field

from tenants.audit import Actor
from tenants.models import Role


class PrincipalKind(enum.StrEnum):
    PLATFORM_ADMIN = "PLATFORM_ADMIN"
    USER = "USER"
    API_CLIENT = "API_CLIENT"
    PORTAL = "PORTAL"


SUBJECT_PREFIXES = {
    PrincipalKind.PLATFORM_ADMIN: "admin",
    PrincipalKind.USER: "user",
    PrincipalKind.API_CLIENT: "client",
    PrincipalKind.PORTAL: "portal",
}


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    subject_id: uuid.UUID
    reseller_id: uuid.UUID | None = None
    role: Role | None = None
    billing_access: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)
    customer_id: uuid.UUID | None = None
    token_id: str | None = None
    name: str = ""  # email of a person, name of an API client: how the audit log shows them
    expires_at: int | None = None  # of the token that authenticated this request
    # The sign-in (refresh-token family) a user's or admin's token belongs to: revoking it
    # ends every access token and download link it issued.
    session_id: uuid.UUID | None = None
    # A reseller's user or API client whose reseller is DEACTIVATED: billing only.
    deactivated: bool = False

    @property
    def subject(self) -> str:
        """How the tokens issued to it name it: "user:<id>", "client:<id>" and so on."""
        return f"{SUBJECT_PREFIXES[self.kind]}:{self.subject_id}"

    @property
    def actor(self) -> Actor:
        return Actor(str(self.kind), self.subject_id, self.name)

    @property
    def is_platform_admin(self) -> bool:
        return self.kind is PrincipalKind.PLATFORM_ADMIN

    @property
    def is_user(self) -> bool:
        return self.kind is PrincipalKind.USER
