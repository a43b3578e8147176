"""Money arithmetic: Decimal only, rounded to the currency's minor units, half up, at the line.

Order of rounding (domain.md): each line is rounded, then tax is computed on the sum of the rounded
lines and rounded, then the total is their sum. Floats never enter: every function refuses one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from core.currency import quantize

ZERO = Decimal(0)
HUNDRED = Decimal(100)


def _decimal(value: Decimal | int, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal or an int, not {type(value).__name__}")
    return Decimal(value)


def days_between(start: date, end: date) -> int:
    """Days in [start, end], both included: a period from the 1st to the 30th has 30."""
    return (end - start).days + 1


def overlap_days(period_start: date, period_end: date, start: date, end: date | None) -> int:
    """How many days of [period_start, period_end] fall within [start, end] (end None: open)."""
    first = max(period_start, start)
    last = period_end if end is None else min(period_end, end)
    return max(0, days_between(first, last))


def prorate(
    unit_price: Decimal,
    quantity: Decimal | int,
    active_days: int,
    period_days: int,
    currency: str,
) -> Decimal:
    """A recurring charge for part of a period: price * quantity * active / period days, rounded
    once, at the end, to the currency's minor units."""
    if period_days <= 0 or not 0 <= active_days <= period_days:
        raise ValueError("active days must lie within a period of at least one day")
    exact = _decimal(unit_price, "unit_price") * _decimal(quantity, "quantity")
    return quantize(exact * active_days / period_days, currency)


def line_amount(unit_price: Decimal, quantity: Decimal | int, currency: str) -> Decimal:
    return quantize(_decimal(unit_price, "unit_price") * _decimal(quantity, "quantity"), currency)


@dataclass(frozen=True, slots=True)
class Totals:
    subtotal: Decimal
    tax: Decimal
    total: Decimal


def totals(line_amounts: list[Decimal], tax_rate_percent: Decimal, currency: str) -> Totals:
    """Subtotal of the (already rounded) lines, tax on the subtotal rounded, total their sum."""
    subtotal = quantize(sum((_decimal(a, "line") for a in line_amounts), ZERO), currency)
    tax = quantize(subtotal * _decimal(tax_rate_percent, "tax_rate") / HUNDRED, currency)
    return Totals(subtotal=subtotal, tax=tax, total=subtotal + tax)
