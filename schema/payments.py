"""Payments in the API: the card on file, autopay, dunning, paying and recording payments.

A reseller pays the platform's invoices with its card (``payInvoice``, autopay when posted);
anyone who sells records payments received by hand (``recordPayment``). Changing the card and
reactivating need billing access (users granted it, the OWNER, API clients with billing:write,
platform admins naming the reseller); a customer portal never sees the reseller's card.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession

from billing import models
from billing.invoices import InvoiceRepository, PaymentRepository
from core.errors import DomainError, ErrorCode, NotFound
from db.scope import PLATFORM_TENANT_ID
from limits.idempotency import IdempotentRequest
from payments.cards import CardChange
from payments.dunning import Standing
from schema.context import Info
from schema.errors import Payload, user_errors
from schema.invoices import Invoice, Payment, PaymentMethodKind, target_reseller
from schema.money import Money, PaymentMethod
from schema.mutations import INPUT, transact
from schema.permissions import billing_mutation
from schema.relay import decode_id
from schema.scalars import CurrencyCode

if TYPE_CHECKING:
    from schema.resellers import AccountStatus, Reseller

IDEMPOTENCY_KEY = (
    "Any string of yours (at most 200 characters): the same key with the same input returns the"
    " first result and repeats nothing; with other input it is refused. Kept 24 hours."
)
CARD_TOKEN = " ".join(  # a description, not a secret
    (
        "The gateway's token for the card (a SetupIntent seti_… confirmed in the browser, or a",
        "payment method pm_…; the sandbox takes Stripe's test tokens such as pm_card_visa).",
        "Never a card number.",
    )
)


@strawberry.type(description="How collecting from a reseller is going.")
class Dunning:
    state: Annotated[AccountStatus, strawberry.lazy("schema.resellers")] = strawberry.field(  # type: ignore[valid-type]
        description="ACTIVE, PAST_DUE (retries pending) or DEACTIVATED."
    )
    attempts: int = strawberry.field(
        description="Scheduled retries made in this round of collecting (they count toward the"
        " limit; charges started by hand do not)."
    )
    next_retry_at: datetime | None = strawberry.field(
        description="When the next retry runs: the upcoming evening in the reseller's time zone."
    )
    last_failure_reason: str | None = strawberry.field(
        description="The gateway's words for the last failed charge."
    )
    last_decline_code: str | None = strawberry.field(
        description="The gateway's decline code for it, where it gave one."
    )
    overdue: Money = strawberry.field(description="What the failed charges left unpaid.")

    @classmethod
    def of(cls, standing: Standing) -> Dunning:
        return cls(
            state=standing.state,
            attempts=standing.attempts,
            next_retry_at=standing.next_retry_at,
            last_failure_reason=standing.last_failure_reason,
            last_decline_code=standing.last_decline_code,
            overdue=Money.of(standing.overdue, standing.currency),
        )


def card_of(row) -> PaymentMethod:  # type: ignore[no-untyped-def]
    return PaymentMethod(
        brand=row.brand, last4=row.last4, exp_month=row.exp_month, exp_year=row.exp_year
    )


# -- inputs and payloads ---------------------------------------------------------------------


@strawberry.input(description="A new card for a reseller's bills from the platform.")
class UpdatePaymentMethodInput:
    payment_token: str = strawberry.field(description=CARD_TOKEN)
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins: the reseller; anyone else only their own."
    )


@strawberry.input(description="Reactivate a DEACTIVATED reseller with a new card.")
class ReactivateAccountInput:
    payment_token: str = strawberry.field(description=CARD_TOKEN)
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins: the reseller; anyone else only their own."
    )


@strawberry.type(description="Result of updatePaymentMethod or reactivateAccount.")
class CardPayload(Payload):
    reseller: Annotated[Reseller, strawberry.lazy("schema.resellers")] | None = strawberry.field(
        default=None, description="The reseller, its status as it is now."
    )
    payment_method: PaymentMethod | None = strawberry.field(
        default=None, description="The card now on file."
    )
    next_retry_at: datetime | None = strawberry.field(
        default=None,
        description="When what is unpaid is charged to the new card (the upcoming evening).",
    )


@strawberry.type(description="Result of updatePaymentMethod.")
class UpdatePaymentMethodPayload(CardPayload):
    pass


@strawberry.type(description="Result of reactivateAccount.")
class ReactivateAccountPayload(CardPayload):
    pass


@strawberry.input(description="Start adding a card in a browser, with the gateway's own form.")
class CreateCardSetupInput:
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins: the reseller; anyone else only their own."
    )


@strawberry.type(
    description="What a browser needs to hand a card to the gateway itself (Stripe Elements on a"
    " SetupIntent): the card number goes to the gateway, never to us. Confirm the intent with"
    " Stripe.js (confirmCardSetup), then send its id (seti_…) as the paymentToken of"
    " updatePaymentMethod or reactivateAccount."
)
class CreateCardSetupPayload(Payload):
    gateway: str | None = strawberry.field(
        default=None,
        description="The payment gateway: stripe, or sandbox (which takes Stripe's test tokens,"
        " such as pm_card_visa, and no card from a browser: the other fields are then null).",
    )
    client_secret: str | None = strawberry.field(
        default=None,
        description="The SetupIntent's client secret, for Stripe.js; it is good for this intent"
        " only, and is not to be kept.",
    )
    publishable_key: str | None = strawberry.field(
        default=None, description="The publishable key (pk_…) to start Stripe.js with."
    )
    js_url: str | None = strawberry.field(default=None, description="Where to load Stripe.js from.")


@strawberry.input(description="Turn autopay (charging each posted bill at once) on or off.")
class SetAutopayInput:
    enabled: bool = strawberry.field(description="True: charge the card when a bill is posted.")
    reseller_id: strawberry.ID | None = strawberry.field(
        default=None, description="Platform admins: the reseller; anyone else only their own."
    )


@strawberry.type(description="Result of setAutopay.")
class SetAutopayPayload(Payload):
    reseller: Annotated[Reseller, strawberry.lazy("schema.resellers")] | None = strawberry.field(
        default=None, description="The reseller."
    )


@strawberry.input(description="Charge the card on file for one of the platform's invoices.")
class PayInvoiceInput:
    invoice_id: strawberry.ID = strawberry.field(description="An OPEN invoice billed to you.")
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type(description="Result of payInvoice or recordPayment.")
class PaymentPayload(Payload):
    payment: Payment | None = strawberry.field(
        default=None,
        description="The attempt: SUCCEEDED, FAILED with the gateway's reason, or PENDING while"
        " the gateway's answer is not in (it is resolved by asking the gateway, never by"
        " charging again).",
    )
    invoice: Invoice | None = strawberry.field(default=None, description="The invoice now.")


@strawberry.type(description="Result of payInvoice.")
class PayInvoicePayload(PaymentPayload):
    pass


@strawberry.input(description="A payment received by hand against a posted invoice.")
class RecordPaymentInput:
    invoice_id: strawberry.ID = strawberry.field(description="An OPEN invoice.")
    amount: Decimal = strawberry.field(
        description="How much was received: more than zero, at most the amount due."
    )
    method: PaymentMethodKind = strawberry.field(  # type: ignore[valid-type]
        description="BANK_TRANSFER, CHEQUE or OTHER."
    )
    currency: CurrencyCode | None = strawberry.field(
        default=None, description="The invoice's currency (checked when given)."
    )
    reference: str | None = strawberry.field(
        default=None, description="The transfer's or cheque's own reference."
    )
    received_at: datetime | None = strawberry.field(
        default=None, description="When it was received; now if unset. Never in the future."
    )
    idempotency_key: str | None = strawberry.field(default=None, description=IDEMPOTENCY_KEY)


@strawberry.type(description="Result of recordPayment.")
class RecordPaymentPayload(PaymentPayload):
    pass


def key_tenant(info: Info) -> uuid.UUID:
    """Whose idempotency keys a caller's are: its reseller's, or the platform's."""
    return info.context.scope.reseller_id or PLATFORM_TENANT_ID


async def _payment_payload(info: Info, payload: type, payment_id: uuid.UUID):  # type: ignore[no-untyped-def]
    async with info.context.read() as session:
        row = await PaymentRepository(session, info.context.scope).get(payment_id)
        invoice = (
            await InvoiceRepository(session, info.context.scope).get(row.invoice_id)
            if row is not None
            else None
        )
    return payload(
        payment=Payment.from_model(row) if row is not None else None,
        invoice=Invoice.from_model(invoice) if invoice is not None else None,
    )


async def _change_card(info: Info, input, change, payload: type):  # type: ignore[no-untyped-def]
    """updatePaymentMethod and reactivateAccount: a verified card for the named reseller."""
    from schema.resellers import Reseller

    try:
        reseller_id = target_reseller(info, input.reseller_id)
        done: CardChange = await change(reseller_id, input.payment_token, info.context.caller.actor)
    except DomainError as error:
        return payload(errors=user_errors(error))
    return payload(
        reseller=Reseller.from_model(done.reseller),
        payment_method=card_of(done.card),
        next_retry_at=done.retry_at,
    )


@strawberry.type
class PaymentMutations:
    @billing_mutation(
        description="Put a new card on file for the platform's bills, verified with the payment"
        " gateway; while PAST_DUE, the pending retry moves to the upcoming evening."
    )
    async def update_payment_method(
        self, info: Info, input: Annotated[UpdatePaymentMethodInput, INPUT]
    ) -> UpdatePaymentMethodPayload:
        cards = info.context.services.payments.cards
        return await _change_card(info, input, cards.update, UpdatePaymentMethodPayload)

    @billing_mutation(
        description="Reactivate a DEACTIVATED reseller with a new card: once the gateway"
        " verified it, the account is ACTIVE in this request, and what is unpaid is charged to"
        " the card the upcoming evening. A refused card changes nothing (CARD_DECLINED)."
    )
    async def reactivate_account(
        self, info: Info, input: Annotated[ReactivateAccountInput, INPUT]
    ) -> ReactivateAccountPayload:
        cards = info.context.services.payments.cards
        return await _change_card(info, input, cards.reactivate, ReactivateAccountPayload)

    @billing_mutation(
        description="Start putting a card on file from a browser: a SetupIntent for off-session"
        " use on the reseller's gateway customer, for Stripe Elements to confirm."
    )
    async def create_card_setup(
        self, info: Info, input: Annotated[CreateCardSetupInput, INPUT]
    ) -> CreateCardSetupPayload:
        ctx = info.context
        cards = ctx.services.payments.cards
        try:
            reseller_id = target_reseller(info, input.reseller_id)
            setup = await cards.setup(reseller_id)
        except DomainError as error:
            return CreateCardSetupPayload(errors=user_errors(error))
        if setup is None:
            return CreateCardSetupPayload(gateway=cards.gateway.name)
        return CreateCardSetupPayload(
            gateway=cards.gateway.name,
            client_secret=setup.client_secret,
            publishable_key=setup.publishable_key,
            js_url=setup.js_url,
        )

    @billing_mutation(description="Charge each of the platform's bills at once when posted.")
    async def set_autopay(
        self, info: Info, input: Annotated[SetAutopayInput, INPUT]
    ) -> SetAutopayPayload:
        from schema.resellers import Reseller

        ctx = info.context
        try:
            reseller_id = target_reseller(info, input.reseller_id)
            row = await ctx.services.payments.cards.set_autopay(
                reseller_id, input.enabled, ctx.caller.actor
            )
        except DomainError as error:
            return SetAutopayPayload(errors=user_errors(error))
        return SetAutopayPayload(reseller=Reseller.from_model(row))

    @billing_mutation(
        description="Charge the card on file now for one of the platform's OPEN invoices."
    )
    async def pay_invoice(
        self, info: Info, input: Annotated[PayInvoiceInput, INPUT]
    ) -> PayInvoicePayload:
        ctx = info.context
        try:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            reseller_id = await _buyer_of(info, invoice_id)
            idempotency = None
            if input.idempotency_key is not None:
                idempotency = IdempotentRequest(
                    key_tenant(info),
                    "payInvoice",
                    input.idempotency_key,
                    {"invoiceId": str(invoice_id)},
                )
            payment = await ctx.services.payments.collector.pay(
                reseller_id, invoice_id, ctx.caller.actor, idempotency=idempotency
            )
        except DomainError as error:
            return PayInvoicePayload(errors=user_errors(error))
        return await _payment_payload(info, PayInvoicePayload, payment.id)

    @billing_mutation(
        description="Record a payment received by bank transfer, cheque or otherwise against an"
        " OPEN invoice; partial payments add up, and the invoice is CLOSED once fully paid."
        " Paying more than is due is refused."
    )
    async def record_payment(
        self, info: Info, input: Annotated[RecordPaymentInput, INPUT]
    ) -> RecordPaymentPayload:
        ctx = info.context

        async def record(session: AsyncSession) -> uuid.UUID:
            invoice_id = decode_id(input.invoice_id, "Invoice", field="invoiceId")
            idempotency = None
            if input.idempotency_key is not None:
                idempotency = IdempotentRequest(
                    key_tenant(info),
                    "recordPayment",
                    input.idempotency_key,
                    {
                        "invoiceId": str(invoice_id),
                        "amount": str(input.amount),
                        "method": str(input.method),
                        "currency": input.currency,
                        "reference": input.reference,
                        "receivedAt": input.received_at.isoformat() if input.received_at else None,
                    },
                )
                replay = await idempotency.claim(session)
                if replay is not None:
                    return uuid.UUID(replay.result["payment"])
            payment = await ctx.services.payments.recorded.record(
                session,
                ctx.scope,
                ctx.caller.actor,
                invoice_id,
                amount=input.amount,
                currency=input.currency,
                method=models.PaymentMethodKind(input.method),
                reference=input.reference,
                received_at=input.received_at,
            )
            if idempotency is not None:
                await idempotency.remember(session, {"payment": str(payment.id)})
            return payment.id

        done = await transact(info, record)
        if done.value is None:
            return RecordPaymentPayload(errors=done.errors)
        return await _payment_payload(info, RecordPaymentPayload, done.value)


async def _buyer_of(info: Info, invoice_id: uuid.UUID) -> uuid.UUID:
    """The reseller billed by a platform invoice the caller may see; NOT_FOUND otherwise."""
    async with info.context.read() as session:
        invoice = await InvoiceRepository(session, info.context.scope).get(invoice_id)
    if invoice is None:
        raise NotFound("invoice", field="invoiceId")
    if invoice.kind is not models.InvoiceKind.WHOLESALE:
        raise DomainError(
            "only the platform's invoices to a reseller are charged to its card; record a"
            " customer's payment with recordPayment",
            field="invoiceId",
            code=ErrorCode.PAYMENT_NOT_POSSIBLE,
        )
    return invoice.reseller_id
