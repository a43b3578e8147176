"""Statements of a billing account for any date range: computed on demand, never stored."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

import strawberry

from billing import statements
from documents.links import StatementTarget
from schema.context import Info
from schema.documents import DOWNLOAD_URL, FORMAT, DocumentFormat, download_url
from schema.money import Money
from schema.relay import to_global_id
from schema.scalars import CurrencyCode


@strawberry.type(description="One movement on a statement.")
class StatementEntry:
    date: date = strawberry.field(description="The account's local day it happened.")
    kind: str = strawberry.field(
        description=(
            "INVOICE (a debit), PAYMENT (a credit), or VOID (a credit: the reversal of a voided"
            " invoice, which is on the statement too)."
        )
    )
    invoice_id: strawberry.ID = strawberry.field(description="The invoice concerned.")
    reference: str = strawberry.field(description="The invoice's number.")
    description: str = strawberry.field(description="For people.")
    debit: Money = strawberry.field(description="What it added to the balance.")
    credit: Money = strawberry.field(description="What it took off the balance.")
    balance: Money = strawberry.field(description="The balance after it.")


@strawberry.type(
    description=(
        "What is still owed at the end of the range (or today, if the range ends later), by how"
        " late it is."
    )
)
class StatementAging:
    as_of: date = strawberry.field(description="The day aged: the range's last day, or today.")
    current: Money = strawberry.field(description="Not yet due.")
    days_1_to_30: Money = strawberry.field(description="1 to 30 days past due.")
    days_31_to_60: Money = strawberry.field(description="31 to 60 days past due.")
    days_61_to_90: Money = strawberry.field(description="61 to 90 days past due.")
    over_90_days: Money = strawberry.field(description="More than 90 days past due.")
    total: Money = strawberry.field(description="All still owed.")


@strawberry.type(
    description=(
        "An account's statement for a date range: opening balance, invoices posted, payments and"
        " voids (a voided invoice and its reversal) in date order, closing balance, aging."
        " Drafts are not on it."
    )
)
class Statement:
    start: date = strawberry.field(name="from", description="First day covered.")
    end: date = strawberry.field(name="to", description="Last day covered.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code of every amount on it.")
    opening_balance: Money = strawberry.field(description="Owed before the first day.")
    closing_balance: Money = strawberry.field(description="Owed after the last day.")
    entries: list[StatementEntry] = strawberry.field(description="The movements, in date order.")
    aging: StatementAging = strawberry.field(
        description="What is open at the end (or today, if earlier), by lateness."
    )
    target: strawberry.Private[StatementTarget]
    reseller_id: strawberry.Private[uuid.UUID]

    @strawberry.field(description=DOWNLOAD_URL)
    def download_url(self, info: Info, format: Annotated[DocumentFormat, FORMAT]) -> str:
        return download_url(info, self.target, self.reseller_id, format)

    @classmethod
    def of(cls, found: statements.Statement) -> Statement:
        c = found.currency

        def money(amount: object) -> Money:
            return Money.of(amount, c)  # type: ignore[arg-type]

        return cls(
            start=found.start,
            end=found.end,
            currency=c,
            opening_balance=money(found.opening_balance),
            closing_balance=money(found.closing_balance),
            entries=[
                StatementEntry(
                    date=e.on,
                    kind=e.kind,
                    invoice_id=strawberry.ID(to_global_id("Invoice", e.invoice_id)),
                    reference=e.reference,
                    description=e.description,
                    debit=money(e.debit),
                    credit=money(e.credit),
                    balance=money(e.balance),
                )
                for e in found.entries
            ],
            aging=StatementAging(
                as_of=found.aged_on or found.end,
                current=money(found.aging.current),
                days_1_to_30=money(found.aging.days_1_30),
                days_31_to_60=money(found.aging.days_31_60),
                days_61_to_90=money(found.aging.days_61_90),
                over_90_days=money(found.aging.over_90),
                total=money(found.aging.total),
            ),
            target=StatementTarget(found.account_type, found.account_id, found.start, found.end),
            reseller_id=found.reseller_id,
        )


async def customer_statement(
    info: Info, customer_id: uuid.UUID, start: date, end: date
) -> Statement:
    async with info.context.read() as session:
        found = await statements.customer_statement(
            session, info.context.scope, customer_id, start, end
        )
    return Statement.of(found)


async def reseller_statement(
    info: Info, reseller_id: uuid.UUID, start: date, end: date
) -> Statement:
    async with info.context.read() as session:
        found = await statements.reseller_statement(
            session, info.context.scope, reseller_id, start, end
        )
    return Statement.of(found)
