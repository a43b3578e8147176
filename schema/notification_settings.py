"""Notification settings: how a reseller (or the platform) brands the emails and documents it
sends; what a reseller leaves unset comes from the platform's."""

from __future__ import annotations

import base64
import enum
import uuid
from typing import Annotated, Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.file_uploads import Upload

from auth import permissions as rules
from core.errors import Forbidden, ValidationFailed
from db.scope import PLATFORM_TENANT_ID
from notifications import models
from notifications.branding import (
    FIELDS,
    Branding,
    NotificationSettingsRepository,
    branding_of,
    field_name,
)
from notifications.settings import KEEP, MAX_LOGO_BYTES, SettingsChange, update_settings
from schema.context import Info
from schema.enums import described_enum
from schema.errors import Payload, user_errors
from schema.mutations import INPUT, respond
from schema.permissions import CanReadTenant, Rule
from schema.relay import decode_id, to_global_id
from tenants.audit import record
from tenants.repositories import ResellerRepository

NotificationEvent = described_enum(
    models.NotificationEvent,
    description=(
        "What a buyer (or a user, for INVITATION) is emailed about. An INVITATION is sent"
        " whatever the settings say: its link is the only way into a new account."
    ),
    values={
        models.NotificationEvent.INVOICE_POSTED: "An invoice was posted (became OPEN).",
        models.NotificationEvent.INVOICE_VOIDED: "An invoice was voided.",
        models.NotificationEvent.INVOICE_PAID: "An invoice was paid in full.",
        models.NotificationEvent.PAYMENT_FAILED: "A payment was declined.",
        models.NotificationEvent.ACCOUNT_DEACTIVATED: "The account was deactivated after unpaid"
        " bills.",
        models.NotificationEvent.ACCOUNT_REACTIVATED: "The account may be used again.",
        models.NotificationEvent.INVITATION: "A new user's invitation, with its activation link.",
        models.NotificationEvent.WEBHOOK_DISABLED: "A webhook endpoint was disabled after its"
        " deliveries kept failing (to the reseller's OWNER; sent whatever the settings say).",
    },
)


class SettingSource(enum.StrEnum):
    RESELLER = "RESELLER"
    PLATFORM = "PLATFORM"
    DEFAULT = "DEFAULT"


described_enum(
    SettingSource,
    description="Where an effective setting comes from.",
    values={
        SettingSource.RESELLER: "The reseller's own setting.",
        SettingSource.PLATFORM: "The platform's, as the reseller set none.",
        SettingSource.DEFAULT: "channelbill's default, as neither set one.",
    },
)


class CanWriteSettings(Rule):
    rule = staticmethod(rules.can_write_settings)
    message = "only an OWNER or ADMIN (or an API client with settings:write) may change settings"


@strawberry.type(description="Which level one effective setting was taken from.")
class SettingOrigin:
    setting: str = strawberry.field(description="The setting's field name (logo, replyTo, …).")
    source: SettingSource = strawberry.field(description="RESELLER, PLATFORM or DEFAULT.")


def data_uri(logo: bytes | None, content_type: str | None) -> str | None:
    if not logo or not content_type:
        return None
    return f"data:{content_type};base64,{base64.b64encode(logo).decode('ascii')}"


def _settings_id(kind: str, owner: uuid.UUID | None) -> strawberry.ID:
    """A stable id per seller, so a client cache updates its copy after a change."""
    return strawberry.ID(to_global_id(kind, owner or PLATFORM_TENANT_ID))


@strawberry.type(description="Settings as stored: null where not set.")
class NotificationSettings:
    id: strawberry.ID = strawberry.field(
        description="Stable per seller (a reseller, or the platform): a client cache's key."
    )
    logo_data_uri: str | None = strawberry.field(
        description="The logo as a data: URI (PNG or JPEG), for a preview."
    )
    control_panel_url: str | None = strawberry.field(
        description="Where buyers manage their account."
    )
    website_url: str | None = strawberry.field(description="The seller's website.")
    sender_name: str | None = strawberry.field(description="The From name of its emails.")
    reply_to: str | None = strawberry.field(description="Where replies to its emails go.")
    address: str | None = strawberry.field(description="Postal address shown on documents.")
    tax_id: str | None = strawberry.field(
        description="The seller's tax registration number, printed on its invoices."
    )
    payment_instructions: str | None = strawberry.field(
        description="How to pay it (bank details), printed under an invoice's totals."
    )
    enabled_events: list[NotificationEvent] | None = strawberry.field(
        description="The events it emails about."
    )
    attach_invoice_pdf: bool | None = strawberry.field(
        description="Whether the invoice PDF goes with the 'posted' email."
    )

    @classmethod
    def from_model(
        cls, row: models.NotificationSettings | None, owner: uuid.UUID | None
    ) -> NotificationSettings:
        row = row or models.NotificationSettings()  # nothing set: every value null
        return cls(
            id=_settings_id("NotificationSettings", owner),
            logo_data_uri=data_uri(row.logo, row.logo_content_type),
            control_panel_url=row.control_panel_url,
            website_url=row.website_url,
            sender_name=row.sender_name,
            reply_to=row.reply_to,
            address=row.address,
            tax_id=row.tax_id,
            payment_instructions=row.payment_instructions,
            enabled_events=(
                [models.NotificationEvent(e) for e in row.enabled_events]
                if row.enabled_events is not None
                else None
            ),
            attach_invoice_pdf=row.attach_invoice_pdf,
        )


@strawberry.type(description="The settings in force: the reseller's, else the platform's.")
class EffectiveNotificationSettings:
    id: strawberry.ID = strawberry.field(
        description="Stable per seller (a reseller, or the platform): a client cache's key."
    )
    seller_name: str = strawberry.field(description="The name its emails and documents show.")
    logo_data_uri: str | None = strawberry.field(description="The logo as a data: URI.")
    control_panel_url: str | None = strawberry.field(description="The control-panel link.")
    website_url: str | None = strawberry.field(description="The website link.")
    sender_name: str = strawberry.field(description="The From name.")
    reply_to: str | None = strawberry.field(description="The Reply-To address, if any.")
    address: str | None = strawberry.field(description="The postal address on documents.")
    tax_id: str | None = strawberry.field(description="The tax registration number on invoices.")
    payment_instructions: str | None = strawberry.field(
        description="How to pay, as invoices print it."
    )
    enabled_events: list[NotificationEvent] = strawberry.field(
        description="The events emailed about."
    )
    attach_invoice_pdf: bool = strawberry.field(description="The PDF goes with 'posted'.")
    sources: list[SettingOrigin] = strawberry.field(description="Where each value came from.")

    @classmethod
    def of(cls, branding: Branding, owner: uuid.UUID | None) -> EffectiveNotificationSettings:
        names = {"logo": "logoDataUri"}
        return cls(
            id=_settings_id("EffectiveNotificationSettings", owner),
            seller_name=branding.name,
            logo_data_uri=data_uri(branding.logo, branding.logo_content_type),
            control_panel_url=branding.control_panel_url,
            website_url=branding.website_url,
            sender_name=branding.sender_name or branding.name,
            reply_to=branding.reply_to,
            address=branding.address,
            tax_id=branding.tax_id,
            payment_instructions=branding.payment_instructions,
            enabled_events=list(branding.enabled_events),
            attach_invoice_pdf=branding.attach_invoice_pdf,
            sources=[
                SettingOrigin(
                    setting=names.get(key, field_name(key)),
                    source=SettingSource(branding.sources[key]),
                )
                for key in FIELDS
            ],
        )


SETTINGS_OF = strawberry.argument(
    description=(
        "A reseller (platform admins); omitted: the caller's reseller's, or the platform's own"
        " for a platform admin."
    )
)


async def owner_of(info: Info, reseller_id: strawberry.ID | None) -> tuple[uuid.UUID | None, str]:
    """Whose settings: the caller's reseller; a platform admin names one, or means the
    platform's own. With the name the seller goes by."""
    ctx = info.context
    own = ctx.scope.reseller_id
    if own is None and reseller_id is None:
        if not ctx.scope.all_tenants:
            raise Forbidden("name the reseller (resellerId)", field="resellerId")
        return None, ctx.services.platform_name
    named = decode_id(reseller_id, "Reseller", field="resellerId") if reseller_id else None
    if own is not None and named not in (None, own):
        raise Forbidden("only your own reseller's settings", field="resellerId")
    wanted = own or named
    async with ctx.read() as session:
        reseller = await ResellerRepository(session, ctx.scope).get(wanted)
    if reseller is None:
        raise ValidationFailed("no such reseller", field="resellerId")
    return reseller.id, reseller.name


@strawberry.type
class NotificationSettingsQueries:
    @strawberry.field(
        permission_classes=[CanReadTenant],
        description=(
            "The notification settings as set: the caller's reseller's, a named reseller's"
            " (platform admins), or the platform's own (platform admins, no resellerId)."
        ),
    )
    async def notification_settings(
        self, info: Info, reseller_id: Annotated[strawberry.ID | None, SETTINGS_OF] = None
    ) -> NotificationSettings:
        owner, _ = await owner_of(info, reseller_id)
        async with info.context.read() as session:
            row = await NotificationSettingsRepository(session).get(owner)
        return NotificationSettings.from_model(row, owner)

    @strawberry.field(
        permission_classes=[CanReadTenant],
        description="The settings in force, after the platform's fallback, with their sources.",
    )
    async def effective_notification_settings(
        self, info: Info, reseller_id: Annotated[strawberry.ID | None, SETTINGS_OF] = None
    ) -> EffectiveNotificationSettings:
        owner, name = await owner_of(info, reseller_id)
        async with info.context.read() as session:
            return EffectiveNotificationSettings.of(await branding_of(session, owner, name), owner)


@strawberry.input(
    description=(
        "What to change; a field left out stays as it is, a field set to null is cleared (a"
        " reseller's cleared setting falls back to the platform's)."
    )
)
class UpdateNotificationSettingsInput:
    reseller_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET,
        description="Platform admins: the reseller; left out, the platform's own settings.",
    )
    logo: Upload | None = strawberry.field(
        default=strawberry.UNSET,
        description=f"PNG or JPEG, at most {MAX_LOGO_BYTES // 1024} KB (multipart upload).",
    )
    control_panel_url: str | None = strawberry.field(
        default=strawberry.UNSET, description="http or https URL."
    )
    website_url: str | None = strawberry.field(
        default=strawberry.UNSET, description="http or https URL."
    )
    sender_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="The From name."
    )
    reply_to: str | None = strawberry.field(
        default=strawberry.UNSET, description="An email address."
    )
    address: str | None = strawberry.field(
        default=strawberry.UNSET, description="Postal address, one line per line."
    )
    tax_id: str | None = strawberry.field(
        default=strawberry.UNSET, description="Tax registration number, at most 64 characters."
    )
    payment_instructions: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="How to pay (bank details), one line per line, at most 1000 characters.",
    )
    enabled_events: list[NotificationEvent] | None = strawberry.field(
        default=strawberry.UNSET, description="The events to email about."
    )
    attach_invoice_pdf: bool | None = strawberry.field(
        default=strawberry.UNSET, description="Attach the invoice PDF to 'posted'."
    )


@strawberry.type(description="The result of updateNotificationSettings.")
class UpdateNotificationSettingsPayload(Payload):
    notification_settings: NotificationSettings | None = strawberry.field(
        default=None, description="The settings as now stored."
    )
    effective: EffectiveNotificationSettings | None = strawberry.field(
        default=None, description="The settings now in force."
    )


async def _read_upload(upload: Any) -> bytes:
    try:
        data: bytes = await upload.read(MAX_LOGO_BYTES + 1)
    finally:
        await upload.close()  # a large upload is spooled to a temporary file
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed(f"the logo is larger than {MAX_LOGO_BYTES // 1024} KB", field="logo")
    return data


def _given(value: Any) -> Any:
    return KEEP if value is strawberry.UNSET else value


@strawberry.type
class NotificationSettingsMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteSettings],
        description="Change notification settings (OWNER, ADMIN, or settings:write).",
    )
    async def update_notification_settings(
        self, info: Info, input: Annotated[UpdateNotificationSettingsInput, INPUT]
    ) -> UpdateNotificationSettingsPayload:
        ctx = info.context
        try:
            owner, name = await owner_of(info, input.reseller_id or None)
            logo = _given(input.logo)
            if logo is not KEEP and logo is not None:
                logo = await _read_upload(logo)
        except (Forbidden, ValidationFailed) as error:
            return UpdateNotificationSettingsPayload(errors=user_errors(error))
        change = SettingsChange(
            logo=logo,
            control_panel_url=_given(input.control_panel_url),
            website_url=_given(input.website_url),
            sender_name=_given(input.sender_name),
            reply_to=_given(input.reply_to),
            address=_given(input.address),
            tax_id=_given(input.tax_id),
            payment_instructions=_given(input.payment_instructions),
            enabled_events=_given(input.enabled_events),
            attach_invoice_pdf=_given(input.attach_invoice_pdf),
        )

        async def update(
            session: AsyncSession,
        ) -> tuple[models.NotificationSettings, EffectiveNotificationSettings]:
            row, changed = await update_settings(session, owner, change)
            record(
                session,
                ctx.caller.actor,
                "notification_settings.updated",
                "NotificationSettings",
                owner,
                owner,
                changed=changed,
            )
            effective = EffectiveNotificationSettings.of(
                await branding_of(session, owner, name), owner
            )
            return row, effective

        return await respond(
            info,
            UpdateNotificationSettingsPayload,
            update,
            lambda done: UpdateNotificationSettingsPayload(
                notification_settings=NotificationSettings.from_model(done[0], owner),
                effective=done[1],
            ),
        )
