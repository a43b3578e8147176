"""A seller's branding as its emails and documents show it: the reseller's own settings, each
unset value taken from the platform's, and where each came from."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.scope import PLATFORM_TENANT_ID
from notifications.models import NotificationEvent, NotificationSettings

# Settings that fall back one by one; the logo's content type travels with the logo.
FIELDS = (
    "logo",
    "control_panel_url",
    "website_url",
    "sender_name",
    "reply_to",
    "address",
    "tax_id",
    "payment_instructions",
    "enabled_events",
    "attach_invoice_pdf",
)
DEFAULT_EVENTS = tuple(NotificationEvent)
EVENT_NAMES = frozenset(e.value for e in NotificationEvent)


class Source:
    RESELLER = "RESELLER"
    PLATFORM = "PLATFORM"
    DEFAULT = "DEFAULT"


@dataclass(frozen=True, slots=True)
class Branding:
    """Who a seller is on paper: its name, and its settings after the fallback."""

    name: str
    logo: bytes | None = None
    logo_content_type: str | None = None
    control_panel_url: str | None = None
    website_url: str | None = None
    sender_name: str | None = None
    reply_to: str | None = None
    address: str | None = None
    tax_id: str | None = None
    payment_instructions: str | None = None
    enabled_events: tuple[NotificationEvent, ...] = DEFAULT_EVENTS
    attach_invoice_pdf: bool = True
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def address_lines(self) -> list[str]:
        return _lines(self.address)

    @property
    def payment_instruction_lines(self) -> list[str]:
        return _lines(self.payment_instructions)

    def enabled(self, event: NotificationEvent) -> bool:
        return event in self.enabled_events


def _lines(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def field_name(key: str) -> str:
    """How errors and the API name a setting: control_panel_url -> controlPanelUrl."""
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def owner_key(reseller_id: uuid.UUID | None) -> uuid.UUID:
    """The settings row of a reseller, or the platform's for None."""
    return PLATFORM_TENANT_ID if reseller_id is None else reseller_id


class NotificationSettingsRepository:
    """The settings rows; the platform's is readable by every tenant (the fallback)."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, reseller_id: uuid.UUID | None) -> NotificationSettings | None:
        return await self.session.get(NotificationSettings, owner_key(reseller_id))

    async def of_owners(
        self, reseller_ids: Iterable[uuid.UUID | None]
    ) -> dict[uuid.UUID, NotificationSettings]:
        keys = {owner_key(r) for r in reseller_ids} | {PLATFORM_TENANT_ID}
        statement = select(NotificationSettings).where(NotificationSettings.reseller_id.in_(keys))
        return {row.reseller_id: row for row in await self.session.scalars(statement)}


def resolve(
    name: str, own: NotificationSettings | None, platform: NotificationSettings | None
) -> Branding:
    """``own`` (a reseller's, or None for the platform itself) over ``platform`` over defaults."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in FIELDS:
        for source, row in ((Source.RESELLER, own), (Source.PLATFORM, platform)):
            value = getattr(row, key) if row is not None else None
            if value is not None:
                values[key] = value
                sources[key] = source
                if key == "logo":
                    values["logo_content_type"] = row.logo_content_type  # type: ignore[union-attr]
                break
        else:
            sources[key] = Source.DEFAULT
    if "enabled_events" in values:
        values["enabled_events"] = tuple(
            NotificationEvent(e) for e in values["enabled_events"] if e in EVENT_NAMES
        )
    return Branding(name=name, sources=sources, **values)


async def branding_of(session: AsyncSession, reseller_id: uuid.UUID | None, name: str) -> Branding:
    """The branding of a seller: a reseller (with the platform's fallback) or the platform."""
    rows = await NotificationSettingsRepository(session).of_owners([reseller_id])
    platform = rows.get(PLATFORM_TENANT_ID)
    if reseller_id is None:
        return resolve(name, None, platform)
    return resolve(name, rows.get(owner_key(reseller_id)), platform)
