"""ISO 4217 currencies and their minor units."""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

from core.errors import ValidationFailed


@cache
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def is_currency(code: str) -> bool:
    """Whether ``code`` is exactly a known ISO 4217 code, as written (upper case)."""
    return code in _known()


def normalize_currency(code: str, *, field: str = "currency") -> str:
    value = (code or "").strip().upper()
    if len(value) != 3 or value not in _known():
        raise ValidationFailed(f"{code!r} is not an ISO 4217 currency code", field=field)
    return value


def minor_units(code: str) -> int:
    return int(get_currency_precision(code))


def quantize(amount: Decimal, code: str) -> Decimal:
    """Round to the currency's minor units (JPY 0, USD 2, KWD 3), half up."""
    return amount.quantize(Decimal(1).scaleb(-minor_units(code)), rounding=ROUND_HALF_UP)


def format_money(amount: Decimal, code: str, locale: str = "en_US") -> str:
    return format_currency(quantize(amount, code), code, locale=locale)
