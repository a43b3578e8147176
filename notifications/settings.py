"""Changing a seller's notification settings: each value checked, then written in one row.

A change names only what it changes: a field left out (``KEEP``) stays as it is, a field set to
None is cleared, and a reseller's cleared value falls back to the platform's.
"""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, fields
from typing import Any, Final
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.validation import normalize_email, optional_text
from notifications.branding import NotificationSettingsRepository, field_name, owner_key
from notifications.models import NotificationEvent, NotificationSettings

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_PIXELS = 4096 * 4096
LOGO_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg"}


class _Keep:
    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final[Any] = _Keep()


@dataclass(frozen=True)
class SettingsChange:
    logo: bytes | None = KEEP
    control_panel_url: str | None = KEEP
    website_url: str | None = KEEP
    sender_name: str | None = KEEP
    reply_to: str | None = KEEP
    address: str | None = KEEP
    tax_id: str | None = KEEP
    payment_instructions: str | None = KEEP
    enabled_events: list[str] | None = KEEP
    attach_invoice_pdf: bool | None = KEEP

    def changed(self) -> dict[str, Any]:
        return {
            f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not KEEP
        }


def check_logo(data: bytes, *, field: str = "logo") -> str:
    """The media type of a PNG or JPEG logo, judged by its content, not its name."""
    if not data:
        raise ValidationFailed("the logo is empty", field=field)
    if len(data) > MAX_LOGO_BYTES:
        raise ValidationFailed(f"the logo is larger than {MAX_LOGO_BYTES // 1024} KB", field=field)
    try:
        with Image.open(io.BytesIO(data)) as image:
            kind = image.format
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise ValidationFailed("the logo must be a PNG or JPEG image", field=field) from None
    if kind not in LOGO_TYPES:
        raise ValidationFailed("the logo must be a PNG or JPEG image", field=field)
    if width * height > MAX_LOGO_PIXELS:
        raise ValidationFailed("the logo has too many pixels (4096 x 4096 at most)", field=field)
    return LOGO_TYPES[kind]


def check_url(value: str | None, *, field: str) -> str | None:
    text = optional_text(value, field=field, max_length=500)
    if text is None:
        return None
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationFailed(f"{field} must be an http or https URL", field=field)
    if parts.username or parts.password:
        raise ValidationFailed(f"{field} must not hold credentials", field=field)
    return text


def check_sender_name(value: str | None, *, field: str = "senderName") -> str | None:
    """A display name for the From header: one line of plain text, nothing a mail client would
    decode or parse as an address."""
    text = optional_text(value, field=field, max_length=100)
    if text is None:
        return None
    if any(c in text for c in '<>"@'):
        raise ValidationFailed(
            'senderName may not hold line breaks or the characters < > " @', field=field
        )
    # An RFC 2047 encoded word ("=?utf-8?q?Evil=0D=0ABcc:_x=40y?=") looks harmless, but it
    # decodes into a display name with a line break or an address; "=?" starts every one.
    if "=?" in text:
        raise ValidationFailed(
            "senderName may not hold MIME encoded words (=?charset?q?...?=)", field=field
        )
    return text


def _clean(change: SettingsChange) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in change.changed().items():
        if key == "logo":
            values["logo"] = value
            values["logo_content_type"] = check_logo(value) if value is not None else None
        elif key in ("control_panel_url", "website_url"):
            values[key] = check_url(value, field=field_name(key))
        elif key == "sender_name":
            values[key] = check_sender_name(value)
        elif key == "reply_to":
            values[key] = normalize_email(value, field="replyTo") if value else None
        elif key == "address":
            values[key] = optional_text(value, field="address", max_length=1000, multiline=True)
        elif key == "tax_id":
            values[key] = optional_text(value, field="taxId", max_length=64)
        elif key == "payment_instructions":
            values[key] = optional_text(
                value, field="paymentInstructions", max_length=1000, multiline=True
            )
        elif key == "enabled_events":
            if value is None:
                values[key] = None
            else:
                known = [e for e in NotificationEvent if e in set(value)]
                values[key] = [str(e) for e in known]
        else:
            values[key] = value
    return values


async def update_settings(
    session: AsyncSession, reseller_id: uuid.UUID | None, change: SettingsChange
) -> tuple[NotificationSettings, list[str]]:
    """Apply ``change`` to the settings of a reseller (or of the platform, ``None``): the row as
    it now stands, and the names of the settings changed. Nothing is written if a value is bad."""
    values = _clean(change)
    row = await NotificationSettingsRepository(session).get(reseller_id)
    if row is None:
        row = NotificationSettings(reseller_id=owner_key(reseller_id))
        session.add(row)
    for key, value in values.items():
        setattr(row, key, value)
    await session.flush()
    return row, sorted(k for k in values if k != "logo_content_type")
