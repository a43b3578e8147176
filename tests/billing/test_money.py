"""Money: proration and rounding, property-tested in currencies of 0, 2 and 3 minor units."""

import decimal
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.money import days_between, line_amount, overlap_days, prorate, totals
from core.currency import minor_units

CURRENCIES = ["JPY", "USD", "KWD"]
prices = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=4)
quantities = st.integers(min_value=0, max_value=10_000)
rates = st.decimals(min_value=Decimal("0"), max_value=Decimal("100"), places=4)


def places(amount: Decimal) -> int:
    return -amount.as_tuple().exponent


@given(prices, quantities, st.sampled_from(CURRENCIES), st.data())
def test_prorated_amounts_are_rounded_and_bounded(price, quantity, currency, data):
    period = data.draw(st.integers(min_value=28, max_value=31))
    active = data.draw(st.integers(min_value=0, max_value=period))
    amount = prorate(price, quantity, active, period, currency)
    full = line_amount(price, quantity, currency)
    assert places(amount) == minor_units(currency)
    # never more than the whole period, never negative, and the whole period costs the whole price
    assert Decimal(0) <= amount <= full
    assert prorate(price, quantity, period, period, currency) == full
    # within half a minor unit of the exact value
    exact = price * quantity * active / period
    assert abs(amount - exact) <= Decimal(1).scaleb(-minor_units(currency)) / 2


@given(st.lists(st.tuples(prices, quantities), max_size=20), rates, st.sampled_from(CURRENCIES))
def test_lines_sum_to_the_subtotal_and_the_total_adds_up(lines, rate, currency):
    amounts = [line_amount(p, q, currency) for p, q in lines]
    result = totals(amounts, rate, currency)
    assert result.subtotal == sum(amounts, Decimal(0))
    assert result.total == result.subtotal + result.tax
    assert {places(result.subtotal), places(result.tax), places(result.total)} == {
        minor_units(currency)
    }


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (Decimal("2.5"), "JPY", Decimal("3")),
        (Decimal("0.125"), "USD", Decimal("0.13")),
        (Decimal("0.0005"), "KWD", Decimal("0.001")),
        (Decimal("1.005"), "USD", Decimal("1.01")),
    ],
)
def test_half_up_at_the_minor_unit(amount, currency, expected):
    assert line_amount(amount, 1, currency) == expected


def test_a_subscription_starting_mid_month_pays_for_its_days():
    # 10 seats at 30.00 from the 16th of a 30-day month: 15 days
    days = overlap_days(date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 16), None)
    assert days == 15
    assert prorate(Decimal("30.00"), 10, days, 30, "USD") == Decimal("150.00")
    assert overlap_days(date(2026, 11, 1), date(2026, 11, 30), date(2026, 12, 1), None) == 0
    ended = overlap_days(
        date(2026, 11, 1), date(2026, 11, 30), date(2026, 1, 1), date(2026, 11, 10)
    )
    assert ended == 10
    assert days_between(date(2026, 2, 1), date(2026, 2, 1) + timedelta(days=27)) == 28


def test_floats_are_refused():
    with pytest.raises(TypeError):
        line_amount(1.5, 1, "USD")  # type: ignore[arg-type]
    with pytest.raises(decimal.FloatOperation):
        Decimal(1.5)  # noqa: RUF032  (the trap: a Decimal made from a float raises)
