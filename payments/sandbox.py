"""The ``sandbox`` gateway: the embedded default, in-process, no account and no network.

It answers Stripe's documented test payment methods the way Stripe does, so the demo and the
README's examples work out of the box: ``pm_card_visa`` saves and every charge succeeds;
``pm_card_chargeCustomerFail`` saves but every charge is declined (a card that went bad after
it was saved); ``pm_card_visa_chargeDeclined`` and its family are refused when saved. Two of
its own do what Stripe's test cards cannot, go bad later with a given reason:
``pm_card_chargeCustomerFailInsufficientFunds`` and ``pm_card_chargeCustomerFailLostCard``.

It is a gateway for trying the product, not a stand-in for ours in tests (the Stripe adapter
is tested against a Stripe server). It keeps a ledger of what it charged, by idempotency key,
in the database, so that any worker can ask it what became of an attempt.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from core.clock import utcnow
from core.ids import new_id
from db.database import Database, upsert
from db.scope import TenantScope
from payments.gateway import Card, CardRefused, CardSetup, ChargeRequest, ChargeResult, ChargeStatus
from payments.models import SandboxCharge


@dataclass(frozen=True, slots=True)
class TestCard:
    brand: str
    last4: str
    refused: tuple[str, str] | None = None  # (message, decline code) when saving it
    declined: tuple[str, str] | None = None  # (message, decline code) on every charge


DECLINED = ("Your card was declined.", "generic_decline")
CARDS: dict[str, TestCard] = {
    "pm_card_visa": TestCard("visa", "4242"),
    "pm_card_visa_debit": TestCard("visa", "5556"),
    "pm_card_mastercard": TestCard("mastercard", "4444"),
    "pm_card_amex": TestCard("amex", "8431"),
    "pm_card_chargeCustomerFail": TestCard("visa", "0341", declined=DECLINED),
    "pm_card_chargeCustomerFailInsufficientFunds": TestCard(
        "visa", "9995", declined=("Your card has insufficient funds.", "insufficient_funds")
    ),
    "pm_card_chargeCustomerFailLostCard": TestCard(
        "visa", "9987", declined=("Your card has been declined.", "lost_card")
    ),
    "pm_card_visa_chargeDeclined": TestCard("visa", "0002", refused=DECLINED),
    "pm_card_visa_chargeDeclinedInsufficientFunds": TestCard(
        "visa", "9995", refused=("Your card has insufficient funds.", "insufficient_funds")
    ),
    "pm_card_visa_chargeDeclinedLostCard": TestCard(
        "visa", "9987", refused=("Your card has been declined.", "lost_card")
    ),
    "pm_card_visa_chargeDeclinedStolenCard": TestCard(
        "visa", "9979", refused=("Your card has been declined.", "stolen_card")
    ),
    "pm_card_chargeDeclinedExpiredCard": TestCard(
        "visa", "0069", refused=("Your card has expired.", "expired_card")
    ),
    "pm_card_chargeDeclinedIncorrectCvc": TestCard(
        "visa", "0127", refused=("Your card's security code is incorrect.", "incorrect_cvc")
    ),
    "pm_card_chargeDeclinedFraudulent": TestCard(
        "visa", "0019", refused=("Your card has been declined.", "fraudulent")
    ),
    "pm_card_chargeDeclinedProcessingError": TestCard(
        "visa",
        "0119",
        refused=("An error occurred while processing your card.", "processing_error"),
    ),
}


def _tenant(account: str) -> TenantScope:
    return TenantScope.tenant(uuid.UUID(account))


class SandboxGateway:
    name = "sandbox"

    def __init__(self, db: Database) -> None:
        self.db = db

    async def verify(self, token: str, *, account: str, email: str | None) -> Card:
        card = CARDS.get(token.strip())
        if card is None:
            raise CardRefused(
                "the sandbox gateway knows only Stripe's test payment methods, such as"
                " pm_card_visa (see the README)",
                "invalid_number",
            )
        if card.refused is not None:
            raise CardRefused(*card.refused)
        return Card(
            ref=token.strip(),
            customer_ref=f"sandbox_customer_{account}",
            brand=card.brand,
            last4=card.last4,
            exp_month=12,
            exp_year=utcnow().year + 3,
        )

    async def setup(
        self, *, account: str, email: str | None, customer: str | None = None
    ) -> CardSetup | None:
        """No browser ever hands the sandbox a card: it takes the test tokens of CARDS."""
        return None

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        account = request.metadata["account"]
        found = await self.find_charge(request.key, account=account)
        if found is not None:
            return found  # as Stripe does with a repeated idempotency key
        card = CARDS.get(request.card.ref)
        declined = card.declined if card is not None else DECLINED
        row_id = new_id()
        async with self.db.write(_tenant(account)) as session:
            insert = await upsert(session, SandboxCharge)
            await session.execute(
                insert.values(
                    reseller_id=uuid.UUID(account),
                    id=row_id,
                    key=request.key,
                    card_ref=request.card.ref,
                    amount=request.amount,
                    currency=request.currency,
                    succeeded=declined is None,
                    decline_code=declined[1] if declined else None,
                    charged_at=utcnow(),
                    created_at=utcnow(),
                ).on_conflict_do_nothing(index_elements=["reseller_id", "key"])
            )
        found = await self.find_charge(request.key, account=account)
        assert found is not None
        return found

    async def find_charge(self, key: str, *, account: str) -> ChargeResult | None:
        async with self.db.read(_tenant(account)) as session:
            row = await session.scalar(
                select(SandboxCharge).where(
                    SandboxCharge.reseller_id == uuid.UUID(account), SandboxCharge.key == key
                )
            )
        if row is None:
            return None
        reference = f"sandbox_pi_{row.id.hex}"
        if row.succeeded:
            return ChargeResult(ChargeStatus.SUCCEEDED, reference)
        card = CARDS.get(row.card_ref)
        message = card.declined[0] if card and card.declined else DECLINED[0]
        return ChargeResult(ChargeStatus.FAILED, reference, message, row.decline_code)

    async def count_charges(self, account: str) -> int:
        """How many charges the sandbox made for an account (tests, the benchmark)."""
        async with self.db.read(_tenant(account)) as session:
            rows = await session.scalars(
                select(SandboxCharge.id).where(SandboxCharge.reseller_id == uuid.UUID(account))
            )
            return len(list(rows))
