"""The Date, DateTime, Decimal and CurrencyCode scalars: strict about what they take, so that no
input value reaches a service or a column it cannot fit.

strawberry's own parse any ISO string or any Python Decimal (NaN, Infinity, "1_000", Arabic-Indic
digits) and quote the value in their error, which orjson then cannot encode when it holds a lone
surrogate. These refuse with a message that never quotes the value (graphql-core names the
variable and the path to it). Instants are refused outside years 1900 to 9000 in UTC: converting
``0001-01-01T00:00:00+05:00`` to UTC overflows, and no bill is that old or that far away.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import NewType

from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.types.scalar import ScalarDefinition

from core.currency import is_currency

EARLIEST = date(1900, 1, 1)
LATEST = date(9000, 12, 31)
EARLIEST_INSTANT = datetime(1900, 1, 1, tzinfo=UTC)
LATEST_INSTANT = datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
MAX_DECIMAL_DIGITS = 30  # before the point, and after it: more than any column holds
_MAX_LENGTH = 80
_CURRENCY = re.compile(r"[A-Z]{3}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _refuse(message: str) -> StrawberryInputCoercionError:
    return StrawberryInputCoercionError(message)


def _text(value: object, what: str, example: str) -> str:
    if not isinstance(value, str) or len(value) > _MAX_LENGTH:
        raise _refuse(f"{what} must be a string like {example}")
    return value


def parse_date(value: object) -> date:
    example = '"2026-11-01"'
    try:
        parsed = date.fromisoformat(_text(value, "a Date", example))
    except ValueError:
        raise _refuse(f"a Date must be an ISO 8601 date like {example}") from None
    if not EARLIEST <= parsed <= LATEST:
        raise _refuse(f"a Date must be between {EARLIEST} and {LATEST}")
    return parsed


def parse_datetime(value: object) -> datetime:
    example = '"2026-11-01T09:30:00+01:00"'
    try:
        parsed = datetime.fromisoformat(_text(value, "a DateTime", example))
    except ValueError:
        raise _refuse(f"a DateTime must be an ISO 8601 instant like {example}") from None
    if parsed.utcoffset() is None:
        raise _refuse(f"a DateTime needs a time zone offset, like {example}")
    # The year is checked before converting: year 1 or 9999 with an offset overflows in UTC.
    if not EARLIEST.year <= parsed.year <= LATEST.year or not (
        EARLIEST_INSTANT <= parsed.astimezone(UTC) <= LATEST_INSTANT
    ):
        raise _refuse(f"a DateTime must be between {EARLIEST} and {LATEST} (UTC)")
    return parsed


def parse_decimal(value: object) -> Decimal:
    """A decimal string (or a JSON number) in plain or exponent notation: finite, ASCII digits,
    at most 30 digits before and after the point. Services bound it further to its column."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _refuse('a Decimal must be a string like "12.30"')
    text = str(value).strip()
    if len(text) > _MAX_LENGTH or not _DECIMAL.fullmatch(text):
        raise _refuse('a Decimal must be a finite decimal number like "12.30"')
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only valid decimals
        raise _refuse('a Decimal must be a finite decimal number like "12.30"') from None
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    if (number and number.adjusted() >= MAX_DECIMAL_DIGITS) or exponent < -MAX_DECIMAL_DIGITS:
        raise _refuse(
            f"a Decimal has at most {MAX_DECIMAL_DIGITS} digits before and after the point"
        )
    return number


CurrencyCode = NewType("CurrencyCode", str)
"""An ISO 4217 code on the wire; a plain ``str`` in Python."""


def parse_currency_code(value: object) -> CurrencyCode:
    """Three letters of a known ISO 4217 code, in either case ("usd" has always been taken):
    answered upper case, as every field returns it."""
    if not isinstance(value, str) or not _CURRENCY.fullmatch(value.upper()):
        raise _refuse('a CurrencyCode must be three letters like "EUR"')
    if not is_currency(value.upper()):
        raise _refuse("a CurrencyCode must be a known ISO 4217 currency code")
    return CurrencyCode(value.upper())


def _isoformat(value: date) -> str:
    return value.isoformat()


DATE = ScalarDefinition(
    name="Date",
    description="A calendar day, ISO 8601 (2026-11-01), between 1900-01-01 and 9000-12-31.",
    specified_by_url="https://scalars.graphql.org/andimarek/local-date.html",
    serialize=_isoformat,
    parse_value=parse_date,
    parse_literal=None,
    origin=date,
)
DATE_TIME = ScalarDefinition(
    name="DateTime",
    description=(
        "An instant, ISO 8601 with a time zone offset (2026-11-01T09:30:00+01:00), between"
        " 1900-01-01 and 9000-12-31 in UTC."
    ),
    specified_by_url="https://scalars.graphql.org/andimarek/date-time.html",
    serialize=_isoformat,
    parse_value=parse_datetime,
    parse_literal=None,
    origin=datetime,
)
DECIMAL = ScalarDefinition(
    name="Decimal",
    description=(
        'An exact decimal number as a string ("12.30"), at most 30 digits before and after the'
        " point; each field says what it accepts."
    ),
    specified_by_url="https://speleotrove.com/decimal/daconvs.html#refnumsyn",
    serialize=str,
    parse_value=parse_decimal,
    parse_literal=None,
    origin=Decimal,
)

CURRENCY_CODE = ScalarDefinition(
    name="CurrencyCode",
    description=(
        'An ISO 4217 currency code: three letters ("EUR", "USD", "JPY"), answered upper case.'
    ),
    specified_by_url="https://www.iso.org/iso-4217-currency-codes.html",
    serialize=str,
    parse_value=parse_currency_code,
    parse_literal=None,
    origin=CurrencyCode,
)

SCALAR_OVERRIDES = {
    date: DATE,
    datetime: DATE_TIME,
    Decimal: DECIMAL,
    CurrencyCode: CURRENCY_CODE,
}
