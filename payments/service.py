"""The payments services, built once per process from their parts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from billing.lifecycle import InvoiceLifecycle
from core.clock import utcnow
from db.database import Database
from jobs.runner import ClaimedJob
from notifications.emails import Composer
from payments.cards import Cards
from payments.collection import Collector
from payments.dunning import Dunning
from payments.gateway import Gateway
from payments.recorded import RecordedPayments
from payments.schedule import RetryPolicy


@dataclass(frozen=True)
class PaymentServices:
    gateway: Gateway
    dunning: Dunning
    collector: Collector
    cards: Cards
    recorded: RecordedPayments

    @classmethod
    def build(
        cls,
        db: Database,
        gateway: Gateway,
        lifecycle: InvoiceLifecycle,
        composer: Composer,
        *,
        policy: RetryPolicy,
        platform_name: str,
        card_url: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> PaymentServices:
        dunning = Dunning(composer, policy, platform_name=platform_name, card_url=card_url)
        collector = Collector(db, gateway, lifecycle, dunning, clock=clock)
        return cls(
            gateway=gateway,
            dunning=dunning,
            collector=collector,
            cards=Cards(db, gateway, dunning, clock=clock),
            recorded=RecordedPayments(lifecycle, dunning, clock=clock),
        )

    def job_handlers(self) -> dict[str, Callable[[ClaimedJob], Awaitable[None]]]:
        return self.collector.handlers()
