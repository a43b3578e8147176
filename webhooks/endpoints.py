"""Managing webhook endpoints: create (the secret shown once), change, disable and enable,
rotate the secret (the old one signs alongside for a grace period), delete; redeliver."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Select, delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.errors import Conflict, ErrorCode, Forbidden, NotFound, ValidationFailed
from core.ids import new_id
from db.scope import TenantScope
from events.log import schedule_delivery
from events.models import (
    EndpointStatus,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from events.types import EVENT_TYPES
from tenants.audit import Actor, record
from tenants.repositories import ScopedRepository
from webhooks import ssrf
from webhooks.sealed import SecretBox
from webhooks.signing import new_secret

MAX_ENDPOINTS = 16
ROTATION_GRACE = timedelta(hours=24)


class EndpointRepository(ScopedRepository[WebhookEndpoint]):
    model = WebhookEndpoint


class DeliveryRepository(ScopedRepository[WebhookDelivery]):
    model = WebhookDelivery

    def of_endpoint(self, endpoint_id: uuid.UUID) -> Select[Any]:
        return self.select().where(WebhookDelivery.endpoint_id == endpoint_id)


@dataclass(frozen=True, slots=True)
class Webhooks:
    """The endpoint operations; ``box`` seals signing secrets, ``allow_private`` is
    WEBHOOKS_ALLOW_PRIVATE_TARGETS."""

    box: SecretBox
    allow_private: bool = False
    clock: Any = utcnow

    async def _check_url(self, url: str) -> str:
        try:
            target = ssrf.parse(url, allow_private=self.allow_private)
            await ssrf.resolve(target, allow_private=self.allow_private)
        except ssrf.UnsafeTarget as error:
            raise ValidationFailed(str(error), field="url") from None
        return url

    @staticmethod
    def _types(types: Sequence[str], billing: bool) -> list[str]:
        """``billing``: the caller has billing access, and may have billing events sent out."""
        wanted = list(dict.fromkeys(types))
        if not wanted:
            raise ValidationFailed("name at least one event type", field="events")
        unknown = [t for t in wanted if t not in EVENT_TYPES]
        if unknown:
            raise ValidationFailed(
                f"unknown event type {unknown[0][:60]!r}; known: {', '.join(EVENT_TYPES)}",
                field="events",
            )
        withheld = [t for t in wanted if EVENT_TYPES[t] and not billing]
        if withheld:
            raise Forbidden(
                f"{withheld[0]} is billing data: only a caller with billing access (API"
                " clients: billing:read) may have it sent",
                field="events",
                code=ErrorCode.BILLING_ACCESS_REQUIRED,
            )
        return wanted

    @staticmethod
    def _reseller(scope: TenantScope) -> uuid.UUID:
        if scope.reseller_id is None or scope.customer_id is not None:
            raise ValidationFailed("webhook endpoints belong to a reseller", field="url")
        return scope.reseller_id

    async def create(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        url: str,
        types: Sequence[str],
        *,
        billing: bool = True,
    ) -> tuple[WebhookEndpoint, str]:
        """A new, enabled endpoint and its signing secret (the only time it is shown)."""
        reseller_id = self._reseller(scope)
        wanted = self._types(types, billing)
        await self._check_url(url)
        repository = EndpointRepository(session, scope)
        if await repository.count(repository.select()) >= MAX_ENDPOINTS:
            raise ValidationFailed(f"a reseller has at most {MAX_ENDPOINTS} endpoints", field="url")
        secret = new_secret()
        endpoint = WebhookEndpoint(
            reseller_id=reseller_id,
            id=new_id(),
            url=url,
            event_types=wanted,
            status=EndpointStatus.ENABLED,
            secret=self.box.seal(secret),
        )
        session.add(endpoint)
        await session.flush()
        record(
            session,
            actor,
            "webhook_endpoint.created",
            "WebhookEndpoint",
            endpoint.id,
            reseller_id,
            url=url,
            events=wanted,
        )
        return endpoint, secret

    async def get(
        self, session: AsyncSession, scope: TenantScope, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint:
        endpoint = await EndpointRepository(session, scope).get(endpoint_id)
        if endpoint is None:
            raise NotFound("webhook endpoint", field="endpointId")
        return endpoint

    async def update(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        endpoint_id: uuid.UUID,
        *,
        url: str | None = None,
        types: Sequence[str] | None = None,
        billing: bool = True,
    ) -> WebhookEndpoint:
        endpoint = await self.get(session, scope, endpoint_id)
        if url is not None:
            endpoint.url = await self._check_url(url)
        if types is not None:
            endpoint.event_types = self._types(types, billing)
        endpoint.updated_at = self.clock()
        await session.flush()
        record(
            session,
            actor,
            "webhook_endpoint.updated",
            "WebhookEndpoint",
            endpoint.id,
            endpoint.reseller_id,
            url=url,
            events=list(types) if types is not None else None,
        )
        return endpoint

    async def set_enabled(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        endpoint_id: uuid.UUID,
        enabled: bool,
    ) -> WebhookEndpoint:
        """Enable (events from now on are sent again; missed ones by redeliverWebhook) or
        disable (nothing is sent; queued deliveries fail when their turn comes)."""
        endpoint = await self.get(session, scope, endpoint_id)
        if enabled:
            await self._check_url(endpoint.url)
        endpoint.status = EndpointStatus.ENABLED if enabled else EndpointStatus.DISABLED
        endpoint.disabled_reason = None if enabled else "disabled by a user"
        endpoint.updated_at = self.clock()
        await session.flush()
        action = "webhook_endpoint.enabled" if enabled else "webhook_endpoint.disabled"
        record(session, actor, action, "WebhookEndpoint", endpoint.id, endpoint.reseller_id)
        return endpoint

    async def rotate(
        self,
        session: AsyncSession,
        scope: TenantScope,
        actor: Actor,
        endpoint_id: uuid.UUID,
        grace: timedelta = ROTATION_GRACE,
    ) -> tuple[WebhookEndpoint, str]:
        """A new secret; the current one keeps signing alongside it for ``grace``."""
        endpoint = await self.get(session, scope, endpoint_id)
        secret = new_secret()
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_secret_expires_at = self.clock() + grace
        endpoint.secret = self.box.seal(secret)
        endpoint.updated_at = self.clock()
        await session.flush()
        record(
            session,
            actor,
            "webhook_endpoint.secret_rotated",
            "WebhookEndpoint",
            endpoint.id,
            endpoint.reseller_id,
            previous_valid_until=endpoint.previous_secret_expires_at.isoformat(),
        )
        return endpoint, secret

    async def delete(
        self, session: AsyncSession, scope: TenantScope, actor: Actor, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint:
        """The endpoint and its deliveries; queued jobs find nothing to do."""
        endpoint = await self.get(session, scope, endpoint_id)
        await session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.reseller_id == endpoint.reseller_id,
                WebhookDelivery.endpoint_id == endpoint.id,
            )
        )
        await session.execute(
            delete(WebhookEndpoint).where(
                WebhookEndpoint.reseller_id == endpoint.reseller_id,
                WebhookEndpoint.id == endpoint.id,
            )
        )
        record(
            session,
            actor,
            "webhook_endpoint.deleted",
            "WebhookEndpoint",
            endpoint.id,
            endpoint.reseller_id,
            url=endpoint.url,
        )
        return endpoint

    async def redeliver(
        self, session: AsyncSession, scope: TenantScope, actor: Actor, delivery_id: uuid.UUID
    ) -> WebhookDelivery:
        """Send a delivery's event again, now (its attempts count on)."""
        delivery = await session.scalar(
            DeliveryRepository(session, scope)
            .select()
            .where(WebhookDelivery.id == delivery_id)
            .with_for_update()
        )
        if delivery is None:
            raise NotFound("webhook delivery", field="deliveryId")
        endpoint = await self.get(session, scope, delivery.endpoint_id)
        if endpoint.status is not EndpointStatus.ENABLED:
            raise Conflict("the endpoint is disabled: enable it first", field="deliveryId")
        if delivery.status is WebhookDeliveryStatus.PENDING:
            raise Conflict("this delivery is queued already", field="deliveryId")
        now = self.clock()
        delivery.status = WebhookDeliveryStatus.PENDING
        delivery.next_attempt_at = now
        await schedule_delivery(session, delivery, round_=new_id().hex, run_at=now)
        await session.flush()
        record(
            session,
            actor,
            "webhook.redelivered",
            "WebhookDelivery",
            delivery.id,
            delivery.reseller_id,
            endpoint_id=str(endpoint.id),
        )
        return delivery
