"""ISO 4217 currencies and their minor units."""

from functools import cache

from babel.numbers import get_currency_precision, list_currencies

from core.errors import ValidationFailed


@cache
def _known() -> frozenset[str]:
    return frozenset(list_currencies())


def normalize_currency(code: str, *, field: str = "currency") -> str:
    value = (code or "").strip().upper()
    if len(value) != 3 or value not in _known():
        raise ValidationFailed(f"{code!r} is not an ISO 4217 currency code", field=field)
    return value


def minor_units(code: str) -> int:
    return int(get_currency_precision(code))
