"""The card on file: replaced only by a card the gateway verified (a SetupIntent), and the one
way back from DEACTIVATED (``reactivate``)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from core.clock import utcnow
from core.errors import DomainError, ErrorCode, NotFound
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from payments.dunning import Dunning
from payments.gateway import CardRefused, CardSetup, Gateway, GatewayUnavailable
from payments.models import CardStatus, PaymentMethod
from tenants.audit import Actor, record
from tenants.models import AccountStatus, Reseller

MAX_TOKEN = 255


class CardDeclined(DomainError):
    code = ErrorCode.CARD_DECLINED


class GatewayDown(DomainError):
    code = ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE


@dataclass(frozen=True, slots=True)
class CardChange:
    card: PaymentMethod
    reseller: Reseller
    retry_at: datetime | None  # when what is unpaid is charged with it next


class Cards:
    def __init__(
        self,
        db: Database,
        gateway: Gateway,
        dunning: Dunning,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.dunning = dunning
        self.clock = clock

    async def _verify(self, reseller_id: uuid.UUID, token: str) -> PaymentMethod:
        token = token.strip()
        if not token or len(token) > MAX_TOKEN or not token.isprintable():
            raise DomainError(
                "paymentToken is the gateway's token for the card (pm_… or seti_…)",
                field="paymentToken",
            )
        if token.replace(" ", "").isdigit():
            # A card number must never reach us: refuse it without keeping or echoing it.
            raise DomainError(
                "send the gateway's token for the card, never its number",
                field="paymentToken",
            )
        try:
            card = await self.gateway.verify(token, account=str(reseller_id), email=None)
        except CardRefused as refused:
            raise CardDeclined(refused.reason, field="paymentToken") from None
        except GatewayUnavailable:
            raise GatewayDown(
                "the payment gateway did not answer; nothing was changed, try again",
                field="paymentToken",
            ) from None
        return PaymentMethod(
            reseller_id=reseller_id,
            id=new_id(),
            customer_id=None,
            gateway=self.gateway.name,
            gateway_ref=card.ref,
            gateway_customer_ref=card.customer_ref,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
            status=CardStatus.ACTIVE,
            created_at=self.clock(),
        )

    async def _reseller(self, reseller_id: uuid.UUID) -> Reseller:
        async with self.db.read(TenantScope.tenant(reseller_id)) as session:
            reseller = await session.get(Reseller, reseller_id)
        if reseller is None:
            raise NotFound("reseller", field="resellerId")
        return reseller

    async def setup(self, reseller_id: uuid.UUID) -> CardSetup | None:
        """A SetupIntent for the card page to confirm in the browser, on the gateway customer
        of the card on file when there is one (so an account's cards stay on one customer);
        None on a gateway that takes test tokens only (the sandbox)."""
        await self._reseller(reseller_id)
        async with self.db.read(TenantScope.tenant(reseller_id)) as session:
            customer = await session.scalar(
                select(PaymentMethod.gateway_customer_ref).where(
                    PaymentMethod.reseller_id == reseller_id,
                    PaymentMethod.customer_id.is_(None),
                    PaymentMethod.status == CardStatus.ACTIVE,
                    PaymentMethod.gateway == self.gateway.name,
                )
            )
        try:
            return await self.gateway.setup(account=str(reseller_id), email=None, customer=customer)
        except GatewayUnavailable:
            raise GatewayDown(
                "the payment gateway did not answer, or is not set up to take cards in a"
                " browser; try again later"
            ) from None

    async def update(self, reseller_id: uuid.UUID, token: str, actor: Actor) -> CardChange:
        """A verified new card replaces the old; while PAST_DUE, the pending retry moves to the
        upcoming evening, with the new card."""
        await self._reseller(reseller_id)
        card = await self._verify(reseller_id, token)
        async with self.db.write(TenantScope.tenant(reseller_id)) as session:
            await self._replace(session, card)
            retry_at = await self.dunning.card_changed(session, reseller_id, self.clock())
            record(
                session,
                actor,
                "payment_method.updated",
                "Reseller",
                reseller_id,
                reseller_id,
                brand=card.brand,
                last4=card.last4,
                retry_at=retry_at.isoformat() if retry_at else None,
            )
            reseller = await session.get(Reseller, reseller_id)
            assert reseller is not None
        return CardChange(card, reseller, retry_at)

    async def reactivate(self, reseller_id: uuid.UUID, token: str, actor: Actor) -> CardChange:
        """DEACTIVATED → ACTIVE in this request, once the gateway verified the new card; what
        is unpaid is charged with it the upcoming evening. A refused card changes nothing."""
        reseller = await self._reseller(reseller_id)
        if reseller.status is not AccountStatus.DEACTIVATED:
            raise DomainError(
                f"the account is {reseller.status}, not DEACTIVATED: use updatePaymentMethod",
                code=ErrorCode.ACCOUNT_NOT_DEACTIVATED,
            )
        card = await self._verify(reseller_id, token)
        async with self.db.write(TenantScope.tenant(reseller_id)) as session:
            await self._replace(session, card)
            record(
                session,
                actor,
                "payment_method.updated",
                "Reseller",
                reseller_id,
                reseller_id,
                brand=card.brand,
                last4=card.last4,
            )
            retry_at = await self.dunning.reactivated(session, reseller_id, actor, self.clock())
            reseller = await session.get(Reseller, reseller_id)
            assert reseller is not None
        return CardChange(card, reseller, retry_at)

    async def set_autopay(self, reseller_id: uuid.UUID, enabled: bool, actor: Actor) -> Reseller:
        async with self.db.write(TenantScope.tenant(reseller_id)) as session:
            reseller = await session.get(Reseller, reseller_id)
            if reseller is None:
                raise NotFound("reseller", field="resellerId")
            if reseller.autopay != enabled:
                reseller.autopay = enabled
                record(
                    session,
                    actor,
                    "reseller.autopay_changed",
                    "Reseller",
                    reseller_id,
                    reseller_id,
                    autopay=enabled,
                )
            return reseller

    @staticmethod
    async def _replace(session, card: PaymentMethod) -> None:  # type: ignore[no-untyped-def]
        await session.execute(
            update(PaymentMethod)
            .where(
                PaymentMethod.reseller_id == card.reseller_id,
                PaymentMethod.customer_id.is_(None),
                PaymentMethod.status == CardStatus.ACTIVE,
            )
            .values(status=CardStatus.REPLACED)
            .execution_options(synchronize_session=False)
        )
        session.add(card)
        await session.flush()
