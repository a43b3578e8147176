"""Sending one delivery: the job ``webhook.deliver``, run by the job table's runner.

The event's body (the Event as the API returns it) is POSTed, signed with the endpoint's secret
(and its previous one during a rotation's grace period), to the address its name resolves to
now, checked against the SSRF rules, with a short timeout and no redirects followed. A 2xx is
delivered; a 410 disables the endpoint; anything else is tried again on ``RETRY_SCHEDULE``
(about three days in all), after which the endpoint is disabled and the reseller's OWNER told.
At least once: a worker that dies after the POST and before the record sends it again, and
``webhook-id`` (the event's id) lets the receiver drop the repeat. While the reseller's account is
DEACTIVATED nothing is sent: its deliveries wait, in order, and go out once it is reactivated.
"""

from __future__ import annotations

import logging
import ssl
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from db.database import Database
from db.scope import TenantScope
from events.log import DELIVER_WEBHOOK, event_global_id
from events.models import (
    EndpointStatus,
    Event,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from jobs.runner import ClaimedJob, Deferred, RetryLater
from notifications.branding import branding_of
from notifications.emails import Composer
from notifications.models import NotificationEvent
from notifications.outbox import enqueue
from tenants.audit import Actor, record
from tenants.models import AccountStatus, Reseller, Role, User, UserStatus
from webhooks import ssrf
from webhooks.sealed import SecretBox
from webhooks.signing import headers as signed_headers

log = logging.getLogger("channelbill.webhooks")

# Seconds to wait after each failed attempt: 10 attempts over about three days (71.6 hours),
# within the job runner's 10 attempts a job.
RETRY_SCHEDULE: tuple[float, ...] = (
    5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 72000,
)  # fmt: skip
TIMEOUT_SECONDS = 10.0
MAX_RESPONSE_NOTE = 200
USER_AGENT = "channelbill-webhooks/1"
STUCK_AFTER = timedelta(minutes=10)  # past the runner's lease: that attempt is not coming
# A deactivated reseller's deliveries wait (not an attempt), looked at again this often;
# reactivation sends them at once (events.log.resume_deliveries).
HOLD_WHILE_DEACTIVATED = timedelta(hours=1)


def body_of(event: Event) -> bytes:
    """The Event as the API returns it (``events``), as the bytes that are signed and sent."""
    return orjson.dumps(
        {
            "id": event_global_id(event.id),
            "type": event.type,
            "occurredAt": event.occurred_at.isoformat(),
            "objectId": event.object_id,
            "payload": event.payload,
        }
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    status_code: int | None
    error: str | None
    latency_ms: int

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender:
    """The handler of ``webhook.deliver`` jobs."""

    kind = DELIVER_WEBHOOK

    def __init__(
        self,
        db: Database,
        box: SecretBox,
        composer: Composer,
        *,
        platform_name: str = "channelbill",
        allow_private: bool = False,
        schedule: Sequence[float] = RETRY_SCHEDULE,
        timeout_seconds: float = TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = utcnow,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.db = db
        self.box = box
        self.composer = composer
        self.platform_name = platform_name
        self.allow_private = allow_private
        self.schedule = tuple(schedule)
        self.timeout = httpx.Timeout(timeout_seconds)
        self.clock = clock
        # One TLS context for every request (loading the CA bundle is the slow part).
        self.verify = ssl.create_default_context() if verify is True else verify

    def handlers(self) -> dict[str, Callable[[ClaimedJob], Any]]:
        return {DELIVER_WEBHOOK: self}

    async def __call__(self, job: ClaimedJob) -> None:
        delivery_id = uuid.UUID(str(job.payload.get("delivery")))
        async with self.db.read(TenantScope.system()) as session:
            delivery = await session.get(WebhookDelivery, (job.reseller_id, delivery_id))
            if delivery is None or delivery.status is not WebhookDeliveryStatus.PENDING:
                return  # deleted with its endpoint, or done already (a repeated job)
            endpoint = await session.get(WebhookEndpoint, (job.reseller_id, delivery.endpoint_id))
            event = await session.get(Event, (job.reseller_id, delivery.event_id))
            earlier = await self._earlier(session, delivery)
            standing = await session.scalar(
                select(Reseller.status).where(Reseller.id == job.reseller_id)
            )
        if endpoint is None or event is None:
            return
        if endpoint.status is not EndpointStatus.ENABLED:
            await self._finish(delivery, None, "the endpoint is disabled", failed=True)
            return
        now = self.clock()
        if standing is AccountStatus.DEACTIVATED:
            # Integrations are closed with the account (domain.md): nothing leaves, nothing is
            # lost; the deliveries go out in order once it is reactivated.
            turn = now + HOLD_WHILE_DEACTIVATED
            await self._postpone(delivery, turn)
            raise Deferred(turn)
        if earlier is not None and earlier > now - STUCK_AFTER:
            # In order per endpoint: an earlier delivery to it is still pending (being retried,
            # or waiting its own turn); this one goes after that one's next attempt, and says
            # so, for the ones behind it. Not an attempt. One whose attempt is long overdue
            # (its job lost) holds nothing up.
            turn = max(earlier, now) + timedelta(milliseconds=10)
            await self._postpone(delivery, turn)
            raise Deferred(turn)
        outcome = await self._post(endpoint, event)
        if outcome.delivered:
            await self._finish(delivery, outcome, None, failed=False)
            return
        reason = outcome.error or f"the endpoint answered {outcome.status_code}"
        if outcome.status_code == 410:
            await self._finish(delivery, outcome, reason, failed=True)
            await self._disable(endpoint, "it answered 410 Gone")
            return
        if job.attempts <= len(self.schedule):
            delay = self.schedule[job.attempts - 1]
            await self._finish(delivery, outcome, reason, failed=False, retry_in=delay)
            raise RetryLater(reason, delay)
        await self._finish(delivery, outcome, reason, failed=True)
        await self._disable(
            endpoint, f"its deliveries kept failing ({len(self.schedule) + 1} attempts: {reason})"
        )

    @staticmethod
    async def _earlier(session: AsyncSession, delivery: WebhookDelivery) -> datetime | None:
        """When the earliest delivery before this one to the same endpoint that is still
        pending is tried next; None when there is none."""
        found: datetime | None = await session.scalar(
            select(WebhookDelivery.next_attempt_at)
            .where(
                WebhookDelivery.reseller_id == delivery.reseller_id,
                WebhookDelivery.endpoint_id == delivery.endpoint_id,
                WebhookDelivery.id < delivery.id,
                WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
            )
            .order_by(WebhookDelivery.id)
            .limit(1)
        )
        return found

    def _secrets(self, endpoint: WebhookEndpoint) -> list[str]:
        found = [self.box.open(endpoint.secret)]
        expires = endpoint.previous_secret_expires_at
        if endpoint.previous_secret and expires is not None and expires > self.clock():
            found.append(self.box.open(endpoint.previous_secret))
        return found

    async def _post(self, endpoint: WebhookEndpoint, event: Event) -> Outcome:
        started = time.monotonic()

        def done(status: int | None, error: str | None) -> Outcome:
            elapsed = round((time.monotonic() - started) * 1000)
            return Outcome(status, error[:300] if error else None, elapsed)

        try:
            target = ssrf.parse(endpoint.url, allow_private=self.allow_private)
            [address, *_] = await ssrf.resolve(target, allow_private=self.allow_private)
        except ssrf.UnsafeTarget as refused:
            return done(None, f"refused: {refused}")
        body = body_of(event)
        headers = {
            **signed_headers(
                self._secrets(endpoint),
                event_global_id(event.id),
                int(self.clock().timestamp()),
                body,
            ),
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "host": target.host_header,
        }
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, verify=self.verify, trust_env=False
            ) as client:
                response = await client.post(
                    target.url_for(address), content=body, headers=headers, extensions=extensions
                )
        except httpx.TimeoutException:
            return done(None, f"no answer within {self.timeout.read:g} s")
        except httpx.HTTPError as error:
            return done(None, f"could not connect: {type(error).__name__}")
        if 300 <= response.status_code < 400:
            return done(response.status_code, f"redirect ({response.status_code}) not followed")
        return done(response.status_code, None)

    async def _postpone(self, delivery: WebhookDelivery, turn: datetime) -> None:
        async with self.db.write(TenantScope.system()) as session:
            await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.reseller_id == delivery.reseller_id,
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == WebhookDeliveryStatus.PENDING,
                )
                .values(next_attempt_at=turn)
                .execution_options(synchronize_session=False)
            )

    async def _finish(
        self,
        delivery: WebhookDelivery,
        outcome: Outcome | None,
        error: str | None,
        *,
        failed: bool,
        retry_in: float | None = None,
    ) -> None:
        now = self.clock()
        async with self.db.write(TenantScope.system()) as session:
            row = await session.scalar(
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.reseller_id == delivery.reseller_id,
                    WebhookDelivery.id == delivery.id,
                )
                .with_for_update()
            )
            if row is None or row.status is not WebhookDeliveryStatus.PENDING:
                return
            if outcome is not None:
                row.attempts += 1
                row.last_attempt_at = now
                row.response_status = outcome.status_code
                row.latency_ms = outcome.latency_ms
            row.error = error
            if outcome is not None and outcome.delivered:
                row.status = WebhookDeliveryStatus.SUCCEEDED
                row.delivered_at = now
                row.next_attempt_at = None
            elif failed:
                row.status = WebhookDeliveryStatus.FAILED
                row.next_attempt_at = None
            else:
                row.next_attempt_at = now + timedelta(seconds=retry_in or 0)

    async def _disable(self, endpoint: WebhookEndpoint, reason: str) -> None:
        """Disable the endpoint (once) and email the reseller's OWNER, in one transaction."""
        async with self.db.write(TenantScope.system()) as session:
            row = await session.scalar(
                select(WebhookEndpoint)
                .where(
                    WebhookEndpoint.reseller_id == endpoint.reseller_id,
                    WebhookEndpoint.id == endpoint.id,
                )
                .with_for_update()
            )
            if row is None or row.status is not EndpointStatus.ENABLED:
                return
            row.status = EndpointStatus.DISABLED
            row.disabled_reason = reason[:300]
            row.updated_at = self.clock()
            record(
                session,
                Actor.system(),
                "webhook_endpoint.disabled",
                "WebhookEndpoint",
                row.id,
                row.reseller_id,
                reason=row.disabled_reason,
            )
            reseller = await session.get(Reseller, row.reseller_id)
            owners = await session.scalars(
                select(User.email).where(
                    User.reseller_id == row.reseller_id,
                    User.role == Role.OWNER,
                    User.status == UserStatus.ACTIVE,
                )
            )
            brand = await branding_of(session, None, self.platform_name)
            for to in owners:
                enqueue(
                    session,
                    self.composer.webhook_disabled(
                        to,
                        brand,
                        organisation=reseller.name if reseller else "your reseller account",
                        url=row.url,
                        reason=row.disabled_reason,
                    ),
                    event=NotificationEvent.WEBHOOK_DISABLED,
                    reseller_id=row.reseller_id,
                    about_type="WebhookEndpoint",
                    about_id=row.id,
                )
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
