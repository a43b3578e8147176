"""All SQL about resellers, customers, users and platform admins, each query through a scope."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.validation import search_text
from db.base import Base, column_attributes
from db.database import CUSTOMER_KEYED
from db.pagination import Page, PageRequest, count, keyset_page
from db.scope import TenantScope
from tenants.models import AccountStatus, Customer, PlatformAdmin, Reseller, Role, User, UserStatus

M = TypeVar("M", bound=Base)


class ScopedRepository(Generic[M]):
    """Reads of one model within a tenant scope; subclasses add their filters."""

    model: type[M]

    def __init__(self, session: AsyncSession, scope: TenantScope) -> None:
        self.session = session
        self.scope = scope

    @property
    def tenant_column(self) -> Any:
        return self.model.reseller_id  # type: ignore[union-attr]

    def select(self) -> Select[tuple[M]]:
        statement = self.scope.filter(select(self.model), self.tenant_column)  # type: ignore[arg-type]
        customer_column = CUSTOMER_KEYED.get(self.model)
        if self.scope.customer_id is not None and customer_column is not None:
            statement = statement.where(customer_column == self.scope.customer_id)
        return statement

    async def get(self, id_: uuid.UUID) -> M | None:
        return (await self.session.scalars(self.select().where(self.model.id == id_))).first()

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, M]:
        wanted = list(set(ids))
        if not wanted:
            return {}
        rows = await self.session.scalars(self.select().where(self.model.id.in_(wanted)))
        return {row.id: row for row in rows}

    async def page(
        self, request: PageRequest, statement: Select[Any] | None = None, *, rows: bool = False
    ) -> Page[M]:
        """``rows``: the page as read-only rows of the model's columns (attribute names), for a
        list that is only shown: no ORM instances to build."""
        return await keyset_page(
            self.session,
            self.select() if statement is None else statement,
            self.model.id,
            request,
            columns=column_attributes(self.model) if rows else None,
        )

    async def count(self, statement: Select[Any] | None = None) -> int:
        return await count(self.session, self.select() if statement is None else statement)

    def add(self, row: M) -> M:
        if not self.scope.allows(self._tenant_of(row)):
            raise PermissionError("row outside the session's tenant scope")
        self.session.add(row)
        return row

    def _tenant_of(self, row: M) -> uuid.UUID | None:
        return row.reseller_id  # type: ignore[union-attr]


def _search(statement: Select[Any], search: str | None, *columns: Any) -> Select[Any]:
    term = search_text(search)
    if term is None:
        return statement
    term = term.lower()
    return statement.where(or_(*(func.lower(c).contains(term, autoescape=True) for c in columns)))


class ResellerRepository(ScopedRepository[Reseller]):
    model = Reseller

    @property
    def tenant_column(self) -> Any:
        return Reseller.id

    def _tenant_of(self, row: Reseller) -> uuid.UUID | None:
        return row.id

    def filtered(self, search: str | None) -> Select[Any]:
        return _search(self.select(), search, Reseller.name, Reseller.slug)

    async def by_slug(self, slug: str) -> Reseller | None:
        return await self.session.scalar(self.select().where(Reseller.slug == slug))

    async def slug_taken(self, slug: str) -> bool:
        """Slugs are unique platform-wide, so this looks past the scope on purpose; under RLS it
        only sees every reseller when the session runs in the system scope (createReseller)."""
        return (
            await self.session.scalar(select(Reseller.id).where(Reseller.slug == slug))
        ) is not None


class CustomerRepository(ScopedRepository[Customer]):
    model = Customer

    def filtered(
        self,
        search: str | None,
        status: AccountStatus | None,
        reseller_id: uuid.UUID | None = None,
    ) -> Select[Any]:
        statement = _search(self.select(), search, Customer.name, Customer.email)
        if status is not None:
            statement = statement.where(Customer.status == status)
        if reseller_id is not None:
            statement = statement.where(Customer.reseller_id == reseller_id)
        return statement


class UserRepository(ScopedRepository[User]):
    model = User

    async def by_email(self, email: str) -> list[User]:
        """Every account of an address in scope (in the system scope: at every reseller)."""
        statement = self.select().where(User.email == email).order_by(User.id)
        return list(await self.session.scalars(statement))

    async def owner_emails(self, reseller_id: uuid.UUID) -> list[str]:
        statement = self.select().where(User.reseller_id == reseller_id, User.role == Role.OWNER)
        return [user.email for user in await self.session.scalars(statement)]

    async def billing_emails(self, reseller_id: uuid.UUID) -> list[str]:
        """The addresses of the reseller's active users with billing access (owners always)."""
        statement = self.select().where(
            User.reseller_id == reseller_id,
            User.status == UserStatus.ACTIVE,
            or_(User.role == Role.OWNER, User.billing_access.is_(True)),
        )
        return sorted(user.email for user in await self.session.scalars(statement))

    async def email_taken(self, reseller_id: uuid.UUID, email: str) -> bool:
        """An address is unique within one reseller only: whether it is used elsewhere on the
        platform is none of this reseller's business (and must not be told)."""
        found = await self.session.scalar(
            self.select().where(User.reseller_id == reseller_id, User.email == email).limit(1)
        )
        return found is not None


class PlatformAdminRepository:
    """Platform admins are not tenant rows: only platform-wide code reads them."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, id_: uuid.UUID) -> PlatformAdmin | None:
        return await self.session.get(PlatformAdmin, id_)

    async def by_ids(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, PlatformAdmin]:
        rows: Sequence[PlatformAdmin] = (
            await self.session.scalars(select(PlatformAdmin).where(PlatformAdmin.id.in_(list(ids))))
        ).all()
        return {row.id: row for row in rows}

    async def by_email(self, email: str) -> PlatformAdmin | None:
        return await self.session.scalar(select(PlatformAdmin).where(PlatformAdmin.email == email))

    async def exists(self) -> bool:
        return await self.session.scalar(select(PlatformAdmin.id).limit(1)) is not None

    def add(self, admin: PlatformAdmin) -> PlatformAdmin:
        self.session.add(admin)
        return admin
