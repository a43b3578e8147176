"""Reseller: type, the resellers connection (platform admins), createReseller."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry

from schema.context import Info
from schema.enums import described_enum
from schema.errors import Payload
from schema.money import Money, PaymentMethod
from schema.mutations import INPUT, respond
from schema.permissions import CanReadCustomers, IsPlatformAdmin, billing_field
from schema.relay import (
    After,
    Before,
    Connection,
    First,
    Last,
    Node,
    page_request,
    resolve_connection,
    to_global_id,
)
from schema.scalars import CurrencyCode
from schema.statements import Statement, reseller_statement
from tenants import models, services
from tenants.repositories import ResellerRepository

if TYPE_CHECKING:
    from schema.customers import CustomerConnection
    from schema.payments import Dunning
    from schema.users import User

AccountStatus = described_enum(
    models.AccountStatus,
    description="Whether an account may be used.",
    values={
        models.AccountStatus.ACTIVE: "In use.",
        models.AccountStatus.PAST_DUE: "A charge failed; it is retried the upcoming evening.",
        models.AccountStatus.DEACTIVATED: "Shut off after unpaid bills, until it is reactivated.",
    },
)
# The filters of both customer lists (Query.customers and Reseller.customers).
CustomerSearch = Annotated[
    str | None,
    strawberry.argument(description="Only customers whose name or email holds it (any case)."),
]
CustomerStatus = Annotated[
    AccountStatus | None,  # type: ignore[valid-type]
    strawberry.argument(description="Only customers in this status."),
]


@strawberry.type(description="A partner company reselling to its own customers: the tenant.")
class Reseller(Node):
    name: str = strawberry.field(description="Company name.")
    slug: str = strawberry.field(description="Unique, URL-safe handle.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code of its default currency.")
    timezone: str = strawberry.field(description="IANA time zone.")
    status: AccountStatus = strawberry.field(  # type: ignore[valid-type]
        description="PAST_DUE while a failed charge is retried, DEACTIVATED after the last."
    )
    invoice_prefix: str = strawberry.field(description="Prefix of the numbers of its invoices.")
    created_at: datetime = strawberry.field(description="When it joined the platform.")

    @strawberry.field(
        permission_classes=[CanReadCustomers],
        description="This reseller's customers, oldest first.",
    )
    async def customers(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        search: CustomerSearch = None,
        status: CustomerStatus = None,
    ) -> Annotated[CustomerConnection, strawberry.lazy("schema.customers")]:
        from schema.customers import customer_connection

        return await customer_connection(
            info, page_request(first, after, last, before), search, status, self.reseller_id
        )

    @billing_field(
        description="What it owes the platform now: the amounts due of its open bills.",
        reseller_own=True,
    )
    async def balance(self, info: Info) -> Money | None:
        owed = await info.context.loaders.reseller_balance_by_id.load(self.reseller_id)
        return Money.of(owed or Decimal(0), self.currency)

    @billing_field(
        description="Its statement with the platform for a date range, computed now.",
        reseller_own=True,
    )
    async def statement(
        self,
        info: Info,
        start: Annotated[date, strawberry.argument(name="from", description="First day.")],
        end: Annotated[date, strawberry.argument(name="to", description="Last day.")],
    ) -> Statement | None:
        return await reseller_statement(info, self.reseller_id, start, end)

    @billing_field(
        description="The card its bills from the platform are charged to; null if none.",
        reseller_own=True,
    )
    async def payment_method(self, info: Info) -> PaymentMethod | None:
        from schema.payments import card_of

        row = await info.context.loaders.card_by_reseller_id.load(self.reseller_id)
        return card_of(row) if row is not None else None

    @billing_field(
        description="Whether each bill from the platform is charged to the card when posted.",
        reseller_own=True,
    )
    def autopay(self) -> bool | None:
        return self.autopay_on

    @billing_field(
        description="How collecting its bills from the platform is going: failed charges,"
        " the next retry, what is overdue.",
        reseller_own=True,
    )
    async def dunning(
        self, info: Info
    ) -> Annotated[Dunning, strawberry.lazy("schema.payments")] | None:
        from schema.payments import Dunning

        async with info.context.read() as session:
            row = await ResellerRepository(session, info.context.scope).get(self.reseller_id)
            if row is None:
                return None
            standing = await info.context.services.payments.dunning.standing(session, row)
        return Dunning.of(standing)

    reseller_id: strawberry.Private[uuid.UUID]
    autopay_on: strawberry.Private[bool] = True

    @classmethod
    def from_model(cls, row: models.Reseller) -> Reseller:
        return cls(
            id=strawberry.ID(to_global_id("Reseller", row.id)),
            name=row.name,
            slug=row.slug,
            currency=row.currency,
            timezone=row.timezone,
            status=row.status,
            invoice_prefix=row.invoice_prefix,
            created_at=row.created_at,
            reseller_id=row.id,
            autopay_on=row.autopay,
        )


@strawberry.input(description="The first user of a new reseller: its OWNER.")
class OwnerInput:
    email: str = strawberry.field(description="Where the invitation is sent; the sign-in.")
    name: str = strawberry.field(description="Full name.")


@strawberry.input(description="A new reseller and its first user.")
class CreateResellerInput:
    name: str = strawberry.field(description="Company name.")
    currency: CurrencyCode = strawberry.field(description="ISO 4217 code, e.g. EUR.")
    owner: OwnerInput = strawberry.field(description="Its OWNER, invited by email.")
    slug: str | None = strawberry.field(
        default=None, description="a-z, 0-9 and '-'; derived from the name if unset."
    )
    timezone: str | None = strawberry.field(default=None, description="IANA zone; UTC if unset.")


@strawberry.type(description="Result of createReseller.")
class CreateResellerPayload(Payload):
    reseller: Reseller | None = strawberry.field(default=None, description="The new reseller.")
    owner: Annotated[User, strawberry.lazy("schema.users")] | None = strawberry.field(
        default=None, description="Its OWNER, INVITED until they accept."
    )


@strawberry.type(description="A page of resellers.")
class ResellerConnection(Connection[Reseller]):
    pass


@strawberry.type
class ResellerQueries:
    @strawberry.field(
        permission_classes=[IsPlatformAdmin],
        description="Every reseller (platform admins only), oldest first.",
    )
    async def resellers(
        self,
        info: Info,
        first: First = None,
        after: After = None,
        last: Last = None,
        before: Before = None,
        search: Annotated[
            str | None,
            strawberry.argument(
                description="Only resellers whose name or slug holds it (any case)."
            ),
        ] = None,
    ) -> ResellerConnection:
        return await resolve_connection(
            info,
            ResellerConnection,
            ResellerRepository,
            page_request(first, after, last, before),
            Reseller.from_model,
            lambda repo: repo.filtered(search),
        )


@strawberry.type
class ResellerMutations:
    @strawberry.mutation(
        permission_classes=[IsPlatformAdmin],
        description="Create a reseller and invite its OWNER (platform admins only).",
    )
    async def create_reseller(
        self, info: Info, input: Annotated[CreateResellerInput, INPUT]
    ) -> CreateResellerPayload:
        from schema.users import User  # the User type refers back to Reseller

        data = services.NewReseller(
            name=input.name,
            currency=input.currency,
            owner_email=input.owner.email,
            owner_name=input.owner.name,
            slug=input.slug,
            timezone=input.timezone,
        )
        accounts, actor = info.context.services.accounts, info.context.caller.actor

        def created(made: tuple[models.Reseller, models.User]) -> CreateResellerPayload:
            reseller, owner = made
            return CreateResellerPayload(
                reseller=Reseller.from_model(reseller), owner=User.from_model(owner)
            )

        return await respond(
            info,
            CreateResellerPayload,
            lambda session: accounts.create_reseller(session, actor, data),
            created,
        )
