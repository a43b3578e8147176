"""Validators shared by services: emails, time zones, texts, searches, bounded decimals.

Every value a column stores passes one of these first, so bad input is a clear error naming the
field, never a database error: texts without control characters (line breaks only where a field
opts in), decimals that fit their NUMERIC(precision, scale) column.
"""

import re
from decimal import Decimal, InvalidOperation
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from email_validator import EmailNotValidError, validate_email

from core.errors import ValidationFailed

MAX_TIMEZONE_LENGTH = 64  # the column is String(64); the longest IANA name is 32
MAX_SEARCH_LENGTH = 200

# C0 and C1 controls, DEL, the Unicode line and paragraph separators, and the bidirectional
# embeddings, overrides and isolates that make a name display as something else. A multi-line
# field (a postal address) may still hold CR, LF and TAB.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_CONTROL_MULTILINE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def unstorable(text: str) -> str | None:
    """Why no database text column can hold ``text`` (PostgreSQL refuses NUL, and a lone UTF-16
    surrogate has no UTF-8 form), or None. The reason never quotes the text."""
    if "\x00" in text:
        return "must not contain NUL (U+0000) characters"
    if _SURROGATE.search(text):
        return "must not contain unpaired surrogate code points (U+D800 to U+DFFF)"
    return None


def normalize_email(value: str, *, field: str = "email") -> str:
    if _CONTROL.search(value or ""):
        raise ValidationFailed("invalid email address: control characters", field=field)
    try:
        result = validate_email((value or "").strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"invalid email address: {exc}", field=field) from None
    return result.normalized.lower()


@cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def normalize_timezone(value: str | None, *, default: str = "UTC", field: str = "timezone") -> str:
    """An IANA name from the time zone database. Looked up in its list of names before any file
    is opened: "Etc" (a directory) or a 300-character name is an unknown zone, not an OSError."""
    name = (value or default).strip()
    if len(name) > MAX_TIMEZONE_LENGTH or name not in _timezones():
        raise ValidationFailed(f"{_shown(value)} is not an IANA time zone", field=field)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationFailed(f"{_shown(value)} is not an IANA time zone", field=field) from None
    return name


def _shown(value: str | None, limit: int = 40) -> str:
    """A value quoted in a message: short, and printable whatever it holds."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def required_text(
    value: str | None, *, field: str, max_length: int = 200, multiline: bool = False
) -> str:
    """A stripped, non-empty text of at most ``max_length`` characters. Single-line unless the
    field opts in: a name, slug or label with a line break would forge a header or a CSV row."""
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise ValidationFailed(f"{field} is longer than {max_length} characters", field=field)
    if (_CONTROL_MULTILINE if multiline else _CONTROL).search(text):
        what = "control characters" if multiline else "line breaks or control characters"
        raise ValidationFailed(f"{field} must not contain {what}", field=field)
    return text


def optional_text(
    value: str | None, *, field: str, max_length: int = 200, multiline: bool = False
) -> str | None:
    if value is None or not value.strip():
        return None
    return required_text(value, field=field, max_length=max_length, multiline=multiline)


def search_text(value: str | None, *, field: str = "search") -> str | None:
    """A search term: bounded (a LIKE pattern of 50,000 characters is an error in SQLite)."""
    if value is None or not value.strip():
        return None
    if len(value) > MAX_SEARCH_LENGTH:
        raise ValidationFailed(
            f"{field} is longer than {MAX_SEARCH_LENGTH} characters", field=field
        )
    return value.strip()


def bounded_decimal(
    value: Decimal | str | int | None,
    *,
    field: str,
    digits: int,
    places: int,
    minimum: Decimal | None = None,
    maximum: Decimal | None = None,
) -> Decimal:
    """A finite decimal that a NUMERIC(``digits``, ``places``) column holds exactly: at most
    ``places`` decimals and ``digits - places`` integer digits, within [minimum, maximum]."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        raise ValidationFailed(f"{field} must be a decimal number", field=field) from None
    if not number.is_finite():
        raise ValidationFailed(f"{field} must be a finite number", field=field)
    if number.as_tuple().exponent < -places:  # type: ignore[operator]
        raise ValidationFailed(f"{field} has more than {places} decimal places", field=field)
    if number and number.adjusted() >= digits - places:
        raise ValidationFailed(
            f"{field} is too large: at most {digits - places} digits before the decimal point",
            field=field,
        )
    if minimum is not None and number < minimum:
        raise ValidationFailed(f"{field} must be at least {minimum}", field=field)
    if maximum is not None and number > maximum:
        raise ValidationFailed(f"{field} must be at most {maximum}", field=field)
    return number


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
