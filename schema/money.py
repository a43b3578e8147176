"""Money on the wire: an exact decimal string with its ISO 4217 currency, never a JSON number."""

from __future__ import annotations

from decimal import Decimal

import strawberry

from core.currency import exact_price, format_price, quantize
from schema.scalars import CurrencyCode


@strawberry.type(description="An amount of money in one currency.")
class Money:
    amount: Decimal = strawberry.field(
        description="Exact amount as a decimal string, rounded to the currency's minor units."
    )
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code.")

    @strawberry.field(
        description=(
            'For people, as documents and emails write it: "€1,234.50" (en_US conventions);'
            ' a unit price keeps its finer digits ("€20.625").'
        )
    )
    def formatted(self) -> str:
        # The amount is already rounded, unless it is an exact unit price: never round it again.
        return format_price(self.amount, self.currency)

    @classmethod
    def of(cls, amount: Decimal, currency: str, *, exact: bool = False) -> Money:
        """Rounded to the currency's minor units; ``exact`` (unit prices) keeps any further
        decimals the amount has, without trailing zeros."""
        if exact:
            return cls(amount=exact_price(amount, currency), currency=currency)
        return cls(amount=quantize(amount, currency), currency=currency)


@strawberry.type(description="A card on file, as the payment gateway describes it.")
class PaymentMethod:
    brand: str = strawberry.field(description="Card brand, e.g. visa.")
    last4: str = strawberry.field(description="Last four digits.")
    exp_month: int = strawberry.field(description="Expiry month, 1-12.")
    exp_year: int = strawberry.field(description="Expiry year.")
