"""Validators shared by services: emails, time zones, names, percentages."""

from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from email_validator import EmailNotValidError, validate_email

from core.errors import ValidationFailed


def normalize_email(value: str, *, field: str = "email") -> str:
    try:
        result = validate_email((value or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"invalid email address: {exc}", field=field) from None
    return result.normalized.lower()


def normalize_timezone(value: str | None, *, default: str = "UTC", field: str = "timezone") -> str:
    name = (value or default).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(f"{value!r} is not an IANA time zone", field=field) from None
    return name


def required_text(value: str | None, *, field: str, max_length: int = 200) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters", field=field)
    return text


def optional_text(value: str | None, *, field: str, max_length: int = 200) -> str | None:
    if value is None or not value.strip():
        return None
    return required_text(value, field=field, max_length=max_length)


def percent(value: Decimal | str | None, *, field: str) -> Decimal:
    if value is None:
        return Decimal("0")
    try:
        number = Decimal(value)
    except (InvalidOperation, TypeError):
        raise ValidationFailed(f"{field} must be a decimal number", field=field) from None
    if not number.is_finite() or number < 0 or number > 100:
        raise ValidationFailed(f"{field} must be between 0 and 100", field=field)
    if number.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValidationFailed(f"{field} has more than 4 decimal places", field=field)
    return number
