"""Limits on guessing: sign-ins, invitation links and API client credentials, per subject and per
client address, with exponential back-off kept in the database (``limits.backoff``).

An attempt is admitted (and counted) before the password or secret is checked, so neither a flood
of guesses nor Argon2's cost is a lever; a success forgives it. Three keys hold for each attempt:
one subject from one address (the tightest), one subject from anywhere (looser: guesses spread
over many addresses) and one address at any subject (looser still: a spray over many accounts,
or many people behind one NAT). Every back-off is capped at a few minutes and forgotten after an
hour of quiet, so an attacker can slow a victim's sign-in but never lock them out for good.

Every lockout is logged, and audited in the tenant it concerns when there is one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from auth.repositories import ApiClientRepository
from db.database import Database
from db.scope import PLATFORM_TENANT_ID, TenantScope
from limits.backoff import Backoff, Charge, charge, forgive
from limits.errors import RateLimited
from tenants.audit import Actor, record
from tenants.models import PlatformAdmin, User
from tenants.repositories import PlatformAdminRepository, UserRepository

log = logging.getLogger("channelbill.limits")

FIVE_MINUTES = 300.0
HOUR = 3600.0


@dataclass(frozen=True, slots=True)
class AttemptLimits:
    pair: Backoff  # one subject from one address
    subject: Backoff  # one subject (an account, a client id) from any address
    address: Backoff  # one client address, whatever the subject


SIGN_IN = AttemptLimits(
    pair=Backoff(free=5, first_wait=1.0, max_wait=FIVE_MINUTES, forget_after=HOUR),
    subject=Backoff(free=20, first_wait=1.0, max_wait=FIVE_MINUTES, forget_after=HOUR),
    address=Backoff(free=50, first_wait=1.0, max_wait=FIVE_MINUTES, forget_after=HOUR),
)
CLIENT_CREDENTIALS = SIGN_IN
# An invitation link is 32 random bytes: guessing is hopeless, but each try costs a lookup and a
# valid one an Argon2 hash; only the address is limited (the link is the only subject).
ACTIVATION = AttemptLimits(
    pair=SIGN_IN.pair,
    subject=SIGN_IN.subject,
    address=Backoff(free=10, first_wait=1.0, max_wait=FIVE_MINUTES, forget_after=HOUR),
)

LOGIN = "login"
CLIENT = "client"
ACTIVATE = "activate"


def _digest(value: str) -> str:
    """Keys hold no raw email, secret or link, and fit the key column whatever they are given."""
    return hashlib.sha256(value.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Admission:
    """An admitted attempt: what to forgive when it succeeds, what lockout it began if not."""

    kind: str
    subject: str | None
    address: str
    clear: tuple[str, ...]
    refund: tuple[str, ...]
    lockouts: tuple[Charge, ...]


class Throttle:
    def __init__(
        self,
        db: Database,
        sign_in: AttemptLimits = SIGN_IN,
        clients: AttemptLimits = CLIENT_CREDENTIALS,
        activation: AttemptLimits = ACTIVATION,
    ) -> None:
        self.db = db
        self.limits = {LOGIN: sign_in, CLIENT: clients, ACTIVATE: activation}
        self.clock: Callable[[], float] = time.time  # epoch seconds, as rate_limits keeps them

    async def admit(self, kind: str, subject: str | None, address: str | None) -> Admission:
        """Count an attempt of ``kind`` at ``subject`` (an email, a client id; None: address
        only) from ``address``, or raise RateLimited without counting it."""
        limits = self.limits[kind]
        where = address or "unknown"
        address_key = f"{kind}:address:{_digest(where)}"
        keys: list[tuple[str, Backoff]] = [(address_key, limits.address)]
        subject_keys: list[str] = []
        if subject is not None:
            pair_key = f"{kind}:pair:{_digest(subject)}:{_digest(where)}"
            subject_key = f"{kind}:subject:{_digest(subject)}"
            keys += [(pair_key, limits.pair), (subject_key, limits.subject)]
            subject_keys = [pair_key, subject_key]
        verdict = await charge(self.db, PLATFORM_TENANT_ID, keys, self.clock())
        if not verdict.allowed:
            raise RateLimited(verdict.retry_after)
        return Admission(
            kind, subject, where, tuple(subject_keys), (address_key,), tuple(verdict.lockouts)
        )

    async def settle(self, admission: Admission, succeeded: bool) -> None:
        """After the check: a success forgives; a failure that began a back-off is a lockout."""
        if succeeded:
            await forgive(self.db, PLATFORM_TENANT_ID, admission.clear, admission.refund)
        elif admission.lockouts:
            await self._locked_out(admission)

    async def _locked_out(self, admission: Admission) -> None:
        kind, subject, address = admission.kind, admission.subject, admission.address
        async with self.db.write(TenantScope.system()) as session:
            for lockout in admission.lockouts:
                limit = lockout.key.split(":")[1]
                log.warning(
                    "%s back-off: %s limit of %r from %s, %d attempts, next in %.0f s",
                    kind,
                    limit,
                    subject[:120] if subject else subject,  # whatever a caller typed: bounded
                    address,
                    lockout.attempts,
                    lockout.blocks_for,
                )
                if limit != "address" and subject is not None:
                    await _audit(session, kind, subject, address, limit, lockout)
                else:  # an address: no tenant's, the platform's audit log tells it
                    record(
                        session,
                        Actor.system(),
                        "address.locked_out",
                        "ClientAddress",
                        None,
                        None,
                        kind=kind,
                        address=address,
                        attempts=lockout.attempts,
                        seconds=round(lockout.blocks_for),
                    )


async def _audit(
    session: AsyncSession, kind: str, subject: str, address: str, limit: str, lockout: Charge
) -> None:
    """In the tenant of the account or client it concerns; what concerns no account (an address,
    an email nobody has) in the platform's."""
    details = {
        "limit": limit,
        "address": address,
        "attempts": lockout.attempts,
        "seconds": round(lockout.blocks_for),
    }
    system = TenantScope.system()
    if kind == CLIENT:
        client = await ApiClientRepository(session, system).by_client_id(subject)
        if client is not None:
            record(
                session,
                Actor.system(),
                "api_client.locked_out",
                "ApiClient",
                client.id,
                client.reseller_id,
                **details,
            )
        return
    admin = await PlatformAdminRepository(session).by_email(subject)
    accounts: list[User | PlatformAdmin] = [
        *([admin] if admin else []),
        *await UserRepository(session, system).by_email(subject),
    ]
    # An address may have accounts at several resellers: each one's audit log tells it. A
    # lockout of an address alone, or of an unknown email, is the platform's to know.
    for account in accounts or [None]:
        record(
            session,
            Actor.system(),
            "session.locked_out",
            "PlatformAdmin" if account is None or isinstance(account, PlatformAdmin) else "User",
            account.id if account is not None else None,
            account.reseller_id if isinstance(account, User) else None,
            **details,
        )
