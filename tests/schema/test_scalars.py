"""The Date, DateTime, Decimal and CurrencyCode scalars: their bounds, and errors that never quote the value."""

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from strawberry.exceptions import StrawberryInputCoercionError

from schema.scalars import parse_currency_code, parse_date, parse_datetime, parse_decimal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1900-01-01T00:00:00Z", datetime(1900, 1, 1, tzinfo=UTC)),
        ("9000-12-31T23:59:59.999999+00:00", datetime(9000, 12, 31, 23, 59, 59, 999999, UTC)),
        (
            "2026-11-01T09:30:00+01:00",
            datetime(2026, 11, 1, 9, 30, tzinfo=timezone(timedelta(hours=1))),
        ),
    ],
)
def test_instants_at_the_bounds_are_accepted(text, expected):
    assert parse_datetime(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "0001-01-01T00:00:00+05:00",  # overflows when converted to UTC
        "9999-12-31T23:59:59-05:00",
        "1900-01-01T00:30:00+01:00",  # 1899 in UTC
        "9000-12-31T23:30:00-01:00",  # 9001 in UTC
        "2026-11-02T10:00:00",  # no offset
        "2026-11-02",
        "\ud800",
        "x" * 100,
        17,
    ],
)
def test_instants_out_of_range_or_without_an_offset_are_refused(text):
    with pytest.raises(StrawberryInputCoercionError) as refused:
        parse_datetime(text)
    assert str(text) not in str(refused.value)


@pytest.mark.parametrize("text", ["1899-12-31", "9001-01-01", "0001-01-01", "2026-02-30", "\x00"])
def test_dates_out_of_range_are_refused(text):
    with pytest.raises(StrawberryInputCoercionError):
        parse_date(text)


def test_dates_at_the_bounds_are_accepted():
    assert parse_date("1900-01-01") == date(1900, 1, 1)
    assert parse_date("9000-12-31") == date(9000, 12, 31)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("12.30", Decimal("12.30")), ("-0", Decimal("-0")), ("1e-30", Decimal("1e-30")), (5, 5)],
)
def test_decimals_are_exact(value, expected):
    assert parse_decimal(value) == expected


@pytest.mark.parametrize(
    "value",
    ["NaN", "sNaN", "Infinity", "1_000", "\u0661", "0x10", "1e30", "1e-31", "", True, None, [1]],
)
def test_decimals_that_are_not_finite_plain_numbers_are_refused(value):
    with pytest.raises(StrawberryInputCoercionError):
        parse_decimal(value)


@pytest.mark.parametrize(("value", "expected"), [("EUR", "EUR"), ("usd", "USD"), ("Jpy", "JPY")])
def test_currency_codes_are_answered_upper_case(value, expected):
    assert parse_currency_code(value) == expected


@pytest.mark.parametrize(
    "value",
    ["EURO", "EU", "XYZ", "QQQ", " EUR", "EUR ", "E1R", "\ud800\ud800\ud800", "", 978, None],
)
def test_currency_codes_that_are_not_known_iso_4217_codes_are_refused(value):
    with pytest.raises(StrawberryInputCoercionError) as refused:
        parse_currency_code(value)
    assert str(refused.value) in {  # never quoting the value
        'a CurrencyCode must be three letters like "EUR"',
        "a CurrencyCode must be a known ISO 4217 currency code",
    }
