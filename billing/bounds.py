"""What an amount column can hold, checked before a row is written.

Each input is bounded (a price or a usage quantity below 10^13), but what is computed from them is
not: a sum of usage records, a price converted at a large rate, a tax of 999 percent. PostgreSQL
refuses a value too wide for ``NUMERIC(20, 6)`` and aborts the whole transaction; SQLite stores it
as it comes. Either way one buyer's numbers must not reach the database: the billing run checks
every amount against these bounds and leaves that buyer out with a reason instead.
"""

from __future__ import annotations

from decimal import Decimal

from billing.models import AMOUNT
from core.errors import DomainError, ErrorCode

# NUMERIC(20, 6): 99,999,999,999,999.999999. A value within still fits once rounded to 6 places
# (and rounding it cannot fail for want of precision); rounded to a currency's 2 it may not.
_DIGITS: int = AMOUNT.precision  # type: ignore[assignment]
_PLACES: int = AMOUNT.scale  # type: ignore[assignment]
AMOUNT_MAX = Decimal(10) ** (_DIGITS - _PLACES) - Decimal(1).scaleb(-_PLACES)


def fits(value: Decimal) -> bool:
    """Whether an amount column can hold ``value`` rounded to its 6 places."""
    return -AMOUNT_MAX <= value <= AMOUNT_MAX


class AmountOutOfRange(DomainError):
    code = ErrorCode.AMOUNT_OUT_OF_RANGE

    def __init__(self, what: str, value: Decimal, *, field: str | None = None) -> None:
        super().__init__(
            f"{what} would be {value.normalize():,f}, beyond the largest amount an invoice can hold"
            f" ({AMOUNT_MAX:,f})",
            field=field,
        )


def checked(value: Decimal, what: str) -> Decimal:
    """``value`` if it fits, else AmountOutOfRange saying ``what`` it is."""
    if -AMOUNT_MAX <= value <= AMOUNT_MAX:
        return value
    raise AmountOutOfRange(what, value)
