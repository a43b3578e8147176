"""Exchange rates (billing.rates): the rate in force on a date is the latest published on or before
it, looked up directly or inverted, whichever is newer; publishing a rate is validated."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from billing.catalog import Catalog
from billing.rates import RateTable, RateUnavailable, rate_on
from core.errors import DomainError
from db.database import Database
from db.scope import TenantScope

SYSTEM = TenantScope.system()


async def publish(db: Database, *rates: tuple[str, str, str, date]) -> None:
    async with db.write(SYSTEM) as session:
        catalog = Catalog(session)
        for base, quote, rate, day in rates:
            await catalog.set_exchange_rate(base, quote, Decimal(rate), day)


async def table(db: Database, on: date) -> RateTable:
    async with db.read(SYSTEM) as session:
        return await RateTable.load(session, on)


def seen(table: RateTable, base: str, quote: str) -> tuple[Decimal, date] | None:
    found = table.find(base, quote)
    return None if found is None else (found.rate, found.rate_date)


async def test_the_latest_rate_on_or_before_the_date_applies(db: Database):
    # given three USD->EUR rates
    await publish(
        db,
        ("USD", "EUR", "0.90", date(2026, 1, 1)),
        ("USD", "EUR", "0.92", date(2026, 6, 1)),
        ("USD", "EUR", "0.95", date(2026, 12, 1)),
    )
    # then
    assert seen(await table(db, date(2025, 12, 31)), "USD", "EUR") is None
    assert seen(await table(db, date(2026, 1, 1)), "USD", "EUR") == (
        Decimal("0.9"),
        date(2026, 1, 1),
    )
    assert seen(await table(db, date(2026, 5, 31)), "USD", "EUR") == (
        Decimal("0.9"),
        date(2026, 1, 1),
    )
    assert seen(await table(db, date(2026, 11, 30)), "USD", "EUR") == (
        Decimal("0.92"),
        date(2026, 6, 1),
    )
    assert seen(await table(db, date(2027, 1, 1)), "USD", "EUR") == (
        Decimal("0.95"),
        date(2026, 12, 1),
    )


async def test_a_pair_is_found_inverted_and_the_newer_direction_wins(db: Database):
    # given EUR->USD only until October, then also a newer USD->EUR
    await publish(
        db,
        ("EUR", "USD", "1.25", date(2026, 1, 1)),
        ("EUR", "USD", "1.08", date(2026, 3, 1)),
        ("USD", "EUR", "0.95", date(2026, 10, 1)),
    )
    # when
    march = await table(db, date(2026, 3, 31))
    november = await table(db, date(2026, 11, 30))
    # then USD->EUR in March is 1 / 1.08, to 10 places; in November the direct rate is newer
    assert seen(march, "USD", "EUR") == (Decimal("0.9259259259"), date(2026, 3, 1))
    assert seen(march, "EUR", "USD") == (Decimal("1.08"), date(2026, 3, 1))
    assert seen(november, "USD", "EUR") == (Decimal("0.95"), date(2026, 10, 1))
    assert seen(november, "EUR", "USD") == (Decimal("1.0526315789"), date(2026, 10, 1))


async def test_on_the_same_date_the_direct_rate_wins(db: Database):
    await publish(
        db, ("USD", "EUR", "0.9", date(2026, 1, 1)), ("EUR", "USD", "1.25", date(2026, 1, 1))
    )
    rates = await table(db, date(2026, 1, 1))
    assert seen(rates, "USD", "EUR") == (Decimal("0.9"), date(2026, 1, 1))
    assert seen(rates, "EUR", "USD") == (Decimal("1.25"), date(2026, 1, 1))


async def test_a_currency_converts_to_itself_at_one_and_an_unknown_pair_is_an_error(db: Database):
    # given
    await publish(db, ("USD", "EUR", "0.9", date(2026, 1, 1)))
    rates = await table(db, date(2026, 11, 30))
    # then
    same = rates.get("CHF", "CHF")
    assert (same.rate, same.rate_date, same.convert(Decimal("12.5"))) == (
        Decimal(1),
        date(2026, 11, 30),
        Decimal("12.5"),
    )
    assert rates.find("USD", "CHF") is None
    with pytest.raises(RateUnavailable) as failure:
        rates.get("USD", "CHF", field="currency")
    assert [(p.code, p.field) for p in failure.value.problems] == [("RATE_UNAVAILABLE", "currency")]
    assert str(failure.value) == "no exchange rate from USD to CHF on or before 2026-11-30"


async def test_rate_on_looks_up_one_pair(db: Database):
    # given
    await publish(
        db,
        ("USD", "EUR", "0.90", date(2026, 1, 1)),
        ("EUR", "USD", "1.25", date(2026, 6, 1)),
        ("USD", "GBP", "0.80", date(2026, 7, 1)),
    )
    # when / then
    async with db.read(SYSTEM) as session:
        may = await rate_on(session, "USD", "EUR", date(2026, 5, 31))
        june = await rate_on(session, "USD", "EUR", date(2026, 6, 1))
        same = await rate_on(session, "EUR", "EUR", date(2000, 1, 1))
        with pytest.raises(RateUnavailable):
            await rate_on(session, "USD", "GBP", date(2026, 6, 30))
    assert (may.rate, june.rate, same.rate) == (Decimal("0.9"), Decimal("0.8"), Decimal(1))


async def test_publishing_a_rate_again_on_the_same_date_corrects_it(db: Database):
    # given
    await publish(db, ("usd", "eur", "0.9", date(2026, 1, 1)))
    # when
    await publish(db, ("USD", "EUR", "0.91", date(2026, 1, 1)))
    # then
    async with db.read(SYSTEM) as session:
        rates = await Catalog(session).rates("USD", "EUR")
    assert [(r.base, r.quote, r.rate, r.rate_date) for r in rates] == [
        ("USD", "EUR", Decimal("0.91"), date(2026, 1, 1))
    ]


@pytest.mark.parametrize(
    ("base", "quote", "rate", "field"),
    [
        pytest.param("USD", "USD", "1", "quote", id="same-currency"),
        pytest.param("USD", "EUR", "0", "rate", id="zero"),
        pytest.param("USD", "EUR", "-0.9", "rate", id="negative"),
        pytest.param("USD", "EUR", "0.12345678901", "rate", id="eleven-places"),
        pytest.param("USD", "EUR", "NaN", "rate", id="not-a-number"),
        pytest.param("XYZ", "EUR", "1", "base", id="unknown-currency"),
    ],
)
async def test_a_bad_rate_is_refused(db: Database, base: str, quote: str, rate: str, field: str):
    with pytest.raises(DomainError) as failure:
        await publish(db, (base, quote, rate, date(2026, 1, 1)))
    assert [p.field for p in failure.value.problems] == [field]
    async with db.read(SYSTEM) as session:
        assert list(await Catalog(session).rates()) == []
