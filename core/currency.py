"""ISO 4217 currencies, their minor units, and the one way an amount is written for people."""

from decimal import ROUND_HALF_UP, Decimal
from functools import cache, lru_cache

from babel.numbers import format_currency, get_currency_precision, list_currencies

from core.errors import ValidationFailed

# Until accounts carry a locale of their own, every document, email and API field formats as
# en_US does: "€1,234.50", "$0.0125", "¥1,200". The locale is a parameter so that one can come.
DEFAULT_LOCALE = "en_US"


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


@lru_cache(maxsize=512)
def minor_units(code: str) -> int:
    return int(get_currency_precision(code))


@lru_cache(maxsize=512)
def _quantum(code: str) -> Decimal:
    return Decimal(1).scaleb(-minor_units(code))


def quantize(amount: Decimal, code: str) -> Decimal:
    """Round to the currency's minor units (JPY 0, USD 2, KWD 3), half up. A tiny negative
    rounds to plain zero, never "-0.00" on a document."""
    rounded = amount.quantize(_quantum(code), rounding=ROUND_HALF_UP)
    return rounded if rounded else abs(rounded)  # abs: a zero without its sign


def exact_price(amount: Decimal, code: str) -> Decimal:
    """A unit price as a machine reads it (CSV, the API): the currency's minor units at least,
    and any finer digits it has, without trailing zeros beyond them (0.0125, 12.50, 20.625)."""
    rounded = quantize(amount, code)
    return rounded if rounded == amount else amount.normalize()


def format_money(amount: Decimal, code: str, locale: str = DEFAULT_LOCALE) -> str:
    """An amount for people, rounded to the currency's minor units the way the invoice rounds
    it (half up), with the locale's sign, grouping and decimal mark: "€1,234.50"."""
    return format_currency(quantize(amount, code), code, locale=locale)


def format_price(amount: Decimal, code: str, locale: str = DEFAULT_LOCALE) -> str:
    """A unit price for people, like :func:`format_money` but never rounded: it shows the
    currency's minor units at least and every finer digit it has ("€20.625", "$0.0125"), since
    rounding a price would make quantity x price disagree with the amount next to it."""
    return format_currency(
        exact_price(amount, code), code, locale=locale, decimal_quantization=False
    )
