"""What Stripe tells us on its own (webhook events), once each, for the charging service.

The signature has been checked by the caller (``server/stripe_webhooks.py``); what is left is the
event's meaning, and remembering which events were handled.

- ``payment_intent.succeeded`` / ``payment_intent.payment_failed`` settle the attempt whose key
  the PaymentIntent carries in its metadata (``channelbill_key``, for the ``account`` in its
  metadata) through ``Collector.apply_outcome``: only a PENDING attempt of that account changes,
  so an intent of an attempt already settled, or one we never sent, changes nothing.
- ``setup_intent.succeeded`` / ``setup_intent.setup_failed`` are acknowledged and logged: a card is
  verified while its holder waits (``Cards``), so there is nothing left to apply.
- Anything else is not ours to act on, and ignored.

A handled event's id is remembered (an idempotency key, operation ``stripe.event``, in the tenant
the event's metadata names, else the platform's) *after* its effect, not before: an effect
applied and not yet remembered is applied again as a no-op (``apply_outcome`` only settles a
PENDING attempt, under a row lock), where an event remembered first and then not applied (a
crash, a busy database) would be lost, Stripe's retry of it being ignored as a replay. Ids are
kept as long as idempotency keys (24 hours); a replay after that is harmless for the same reason.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from core.clock import utcnow
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from limits.idempotency import MAX_KEY_LENGTH, claim
from limits.models import IdempotencyKey
from payments.collection import Collector
from payments.gateway import ChargeResult, ChargeStatus
from payments.stripe_gateway import ACCOUNT_METADATA, KEY_METADATA

log = logging.getLogger("channelbill.payments")

OPERATION = "stripe.event"
CHARGE_EVENTS = frozenset({"payment_intent.succeeded", "payment_intent.payment_failed"})
SETUP_EVENTS = frozenset({"setup_intent.succeeded", "setup_intent.setup_failed"})


class MalformedEvent(ValueError):
    """A signed body that is no event we can read (no id, no type, no object)."""


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    type: str
    object: dict[str, Any]  # data.object: the PaymentIntent or SetupIntent

    @property
    def metadata(self) -> dict[str, Any]:
        metadata = self.object.get("metadata")
        return metadata if isinstance(metadata, dict) else {}

    @property
    def account(self) -> uuid.UUID | None:
        """The reseller our metadata names; None when it names none (not a charge of ours)."""
        value = self.metadata.get(ACCOUNT_METADATA)
        try:
            return uuid.UUID(value) if isinstance(value, str) else None
        except ValueError:
            return None

    @property
    def tenant(self) -> uuid.UUID:
        """Whose idempotency keys remember this event."""
        return self.account or PLATFORM_TENANT_ID


def read_event(body: Any) -> Event:
    """The parts of a (verified) event body we use."""
    if not isinstance(body, dict):
        raise MalformedEvent("the event is not a JSON object")
    event_id, event_type, data = body.get("id"), body.get("type"), body.get("data")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_KEY_LENGTH:
        raise MalformedEvent("the event has no id")
    if not event_id.isprintable():
        raise MalformedEvent("the event's id is not printable")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedEvent("the event has no type")
    obj = data.get("object") if isinstance(data, dict) else None
    if not isinstance(obj, dict):
        raise MalformedEvent("the event has no data.object")
    return Event(event_id, event_type, obj)


def charge_result(event: Event) -> ChargeResult:
    """A PaymentIntent event as the charging service reads a charge: the event's type decides
    the status; a failure carries the gateway's message and its most specific code."""
    reference = event.object.get("id") if isinstance(event.object.get("id"), str) else None
    if event.type == "payment_intent.succeeded":
        return ChargeResult(ChargeStatus.SUCCEEDED, reference)
    error = event.object.get("last_payment_error")
    error = error if isinstance(error, dict) else {}
    reason = error.get("message") or "The card was declined."
    code = error.get("decline_code") or error.get("code")
    return ChargeResult(ChargeStatus.FAILED, reference, str(reason), str(code) if code else None)


class StripeEvents:
    def __init__(self, db: Database, collector: Collector) -> None:
        self.db = db
        self.collector = collector

    async def handle(self, event: Event) -> str:
        """What became of the event: ``applied``, ``replayed``, or ``ignored``."""
        if event.type not in CHARGE_EVENTS | SETUP_EVENTS:
            return "ignored"
        scope = TenantScope.tenant(event.tenant)
        if await self._seen(scope, event):
            return "replayed"
        if event.type in CHARGE_EVENTS:
            await self._charge(event)
        else:
            log.info(
                "stripe %s for %s (%s): acknowledged; cards are verified while the holder waits",
                event.type,
                event.object.get("id"),
                event.account,
            )
        async with self.db.write(scope) as session:
            await claim(session, event.tenant, OPERATION, event.id, event.id)
        return "applied"

    async def _seen(self, scope: TenantScope, event: Event) -> bool:
        async with self.db.read(scope) as session:
            found = await session.scalar(
                select(IdempotencyKey.key).where(
                    IdempotencyKey.reseller_id == event.tenant,
                    IdempotencyKey.operation == OPERATION,
                    IdempotencyKey.key == event.id,
                    IdempotencyKey.expires_at > utcnow(),
                )
            )
        return found is not None

    async def _charge(self, event: Event) -> None:
        key = event.metadata.get(KEY_METADATA)
        account = event.account
        if account is None or not isinstance(key, str) or not key:
            log.info("stripe %s for %s: not a charge of ours", event.type, event.object.get("id"))
            return
        settled = await self.collector.apply_outcome(account, key, charge_result(event))
        if settled is None:
            log.info("stripe %s for %s: no pending attempt %s", event.type, account, key)
