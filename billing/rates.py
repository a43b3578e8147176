"""Exchange rates: the rate in force on a date is the latest one published on or before it.

A pair is looked up directly (base -> quote) or inverted (quote -> base). ``RateTable`` loads
every rate needed up to a date in one query, for billing runs that convert thousands of lines.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import ExchangeRate
from core.errors import DomainError, ErrorCode, ValidationFailed
from core.validation import bounded_decimal

RATE_PLACES = Decimal("1e-10")


class RateUnavailable(DomainError):
    code = ErrorCode.RATE_UNAVAILABLE

    def __init__(self, base: str, quote: str, on: date, *, field: str | None = None) -> None:
        super().__init__(
            f"no exchange rate from {base} to {quote} on or before {on.isoformat()}", field=field
        )


@dataclass(frozen=True, slots=True)
class Rate:
    base: str
    quote: str
    rate: Decimal
    rate_date: date

    def convert(self, amount: Decimal) -> Decimal:
        return amount * self.rate


class RateTable:
    """Every published rate up to ``on``, in memory: ``find`` answers without another query."""

    def __init__(self, on: date, rows: Iterable[ExchangeRate]) -> None:
        self.on = on
        self._latest: dict[tuple[str, str], ExchangeRate] = {}
        for row in rows:
            key = (row.base, row.quote)
            known = self._latest.get(key)
            if known is None or row.rate_date > known.rate_date:
                self._latest[key] = row

    @classmethod
    async def load(cls, session: AsyncSession, on: date) -> RateTable:
        rows = await session.scalars(select(ExchangeRate).where(ExchangeRate.rate_date <= on))
        return cls(on, rows)

    def find(self, base: str, quote: str) -> Rate | None:
        if base == quote:
            return Rate(base, quote, Decimal(1), self.on)
        direct = self._latest.get((base, quote))
        inverse = self._latest.get((quote, base))
        if direct is not None and (inverse is None or direct.rate_date >= inverse.rate_date):
            return Rate(base, quote, direct.rate, direct.rate_date)
        if inverse is not None:
            return Rate(base, quote, (1 / inverse.rate).quantize(RATE_PLACES), inverse.rate_date)
        return None

    def get(self, base: str, quote: str, *, field: str | None = None) -> Rate:
        found = self.find(base, quote)
        if found is None:
            raise RateUnavailable(base, quote, self.on, field=field)
        return found


async def rate_on(session: AsyncSession, base: str, quote: str, on: date) -> Rate:
    """The rate of one pair on one date (for a single conversion, e.g. an invoice's total)."""
    if base == quote:
        return Rate(base, quote, Decimal(1), on)
    rows = await session.scalars(
        select(ExchangeRate)
        .where(
            ExchangeRate.rate_date <= on,
            ((ExchangeRate.base == base) & (ExchangeRate.quote == quote))
            | ((ExchangeRate.base == quote) & (ExchangeRate.quote == base)),
        )
        .order_by(ExchangeRate.rate_date.desc())
        .limit(1)
    )
    return RateTable(on, rows).get(base, quote, field="currency")


def check_rate(value: Decimal, *, field: str = "rate") -> Decimal:
    """A positive rate that its NUMERIC(24, 10) column holds: 1e30 is refused, not overflowed."""
    if not value.is_finite() or value <= 0:
        raise ValidationFailed("a rate must be a positive number", field=field)
    return bounded_decimal(value, field=field, digits=24, places=10)
