"""Mail sent on a user's request goes to whatever address they type (copies of invoices, test
notifications): each reseller has a budget of it, in the database so that every worker and host
spends the same one, and spent in the transaction that queues the mail (a send that fails or is
refused spends nothing)."""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from db.scope import PLATFORM_TENANT_ID
from limits.buckets import Bucket, take_in
from limits.errors import RateLimited

log = logging.getLogger("channelbill.limits")

HOUR = 3600.0
# Messages, not requests: one sendInvoice to ten addresses spends ten.
INVOICE_COPIES = Bucket(capacity=50, leak_per_second=50 / HOUR)
TEST_NOTIFICATIONS = Bucket(capacity=10, leak_per_second=10 / HOUR)


async def spend(
    session: AsyncSession, reseller_id: uuid.UUID | None, kind: str, bucket: Bucket, messages: int
) -> None:
    """Raise RATE_LIMITED when the tenant (the platform's for platform admins) has no budget
    left for ``messages`` more of ``kind``."""
    tenant = reseller_id or PLATFORM_TENANT_ID
    decision = await take_in(session, tenant, f"mail:{kind}", max(1, messages), bucket)
    if not decision.allowed:
        log.warning("mail on request refused: %s of tenant %s over its budget", kind, tenant)
        raise RateLimited(decision.retry_after, f"too many {kind.replace('_', ' ')} sent")
