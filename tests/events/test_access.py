"""Who sees which events: every caller of the access matrix, against an oracle computed from the
stored log; nothing of one tenant ever reaches another; the connection pages in order."""

from __future__ import annotations

import asyncpg
import pytest

from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from billing.models import InvoiceStatus, PaymentMethodKind
from db.database import Database
from db.scope import TenantScope
from events.log import event_global_id
from events.models import Event
from events.types import PORTAL_TYPES
from notifications.emails import Composer
from payments.dunning import Dunning
from payments.recorded import RecordedPayments
from payments.schedule import RetryPolicy
from tenants.audit import Actor
from tests.api.test_access_matrix import CALLERS, token
from tests.billing.drafts import load, retail_drafts
from tests.catalog import make_catalog
from tests.conftest import Api, Postgres, error_codes
from tests.events import EVENTS, nodes, stored
from tests.factories import World


@pytest.fixture
async def log(db: Database, world: World) -> list[Event]:
    """A's log: its customers, drafts of two customers, both posted, the first one paid; B's
    log: its customers and a posted invoice."""
    shop = await make_catalog(db)
    lifecycle = InvoiceLifecycle(Composer("Billing <billing@platform.example>"), BillingPolicy())
    for tenant in (world.a, world.b):
        drafts = await retail_drafts(db, tenant.id, tenant.customers[:2], [shop.products["m365"]])
        scope = TenantScope.tenant(tenant.id)
        for invoice_id in drafts:
            async with db.write(scope) as session:
                await lifecycle.update_status(
                    session, scope, Actor.system(), invoice_id, InvoiceStatus.OPEN, notify=False
                )
        first = await load(db, drafts[0])
        assert first is not None
        dunning = Dunning(
            Composer("b@p.example"), RetryPolicy(), platform_name="P", card_url="http://x"
        )
        async with db.write(scope) as session:
            await RecordedPayments(lifecycle, dunning).record(
                session,
                scope,
                Actor.system(),
                first.id,
                amount=first.total,
                currency=None,
                method=PaymentMethodKind.BANK_TRANSFER,
                reference=None,
                received_at=None,
            )
    return await stored(db)


def expected(world: World, caller: str, log: list[Event]) -> list[str]:
    """The oracle: the ids (in order) of the events each caller may see."""
    a = [e for e in log if e.reseller_id == world.a.id]
    if caller == "platform":
        chosen = log
    elif caller == "other_tenant":
        chosen = [e for e in log if e.reseller_id == world.b.id]
    elif caller in ("owner", "billing_manager", "client_all"):
        chosen = a
    elif caller in ("member", "client_read"):
        chosen = [e for e in a if not e.billing]
    elif caller == "client_billing":
        chosen = [e for e in a if e.billing]
    elif caller == "portal":
        chosen = [e for e in a if e.customer_id == world.a.customers[0] and e.type in PORTAL_TYPES]
    else:
        raise AssertionError(caller)
    return [e.object_id + "/" + e.type for e in chosen]


async def _all(api: Api, who: str | None, first: int = 7) -> list[dict]:  # type: ignore[type-arg]
    seen: list[dict] = []  # type: ignore[type-arg]
    after = None
    for _ in range(100):
        body = await api(EVENTS, {"first": first, "after": after}, who)
        seen += nodes(body)
        info = body["data"]["events"]["pageInfo"]
        if not info["hasNextPage"]:
            return seen
        after = info["endCursor"]
    raise AssertionError("more than 100 pages")


@pytest.mark.parametrize("caller", CALLERS)
async def test_each_caller_sees_its_part_of_the_log(
    api: Api, world: World, log: list[Event], caller: str
):
    who = token(world, caller)
    if caller == "anonymous":
        body = await api(EVENTS, {}, who)
        assert error_codes(body) == ["UNAUTHENTICATED"] and body["data"] is None
        return
    seen = await _all(api, who)
    assert [e["objectId"] + "/" + e["type"] for e in seen] == expected(world, caller, log)
    body = await api(EVENTS, {"first": 0}, who)
    assert body["data"]["events"]["totalCount"] == len(seen)


EVENT_NODES = """query($ids: [ID!]!) { nodes(ids: $ids) {
  id ... on Event { type objectId payload } } }"""


@pytest.mark.parametrize("caller", CALLERS)
async def test_each_caller_fetches_by_id_exactly_the_events_it_may_see(
    api: Api, world: World, log: list[Event], caller: str
):
    ids = [event_global_id(e.id) for e in log]
    body = await api(EVENT_NODES, {"ids": ids}, token(world, caller))
    if caller == "anonymous":
        assert error_codes(body) == ["UNAUTHENTICATED"] and body["data"] is None
        return
    fetched = body["data"]["nodes"]
    seen = [f"{e['objectId']}/{e['type']}" for e in fetched if e is not None]
    assert seen == expected(world, caller, log)
    # each one refused answers as its list would: another tenant's or a portal's other
    # customers' as if it did not exist, a billing event without billing access by its code
    refused = {error["path"][1]: error["extensions"]["code"] for error in body.get("errors", [])}
    assert sorted(refused) == [i for i, e in enumerate(fetched) if e is None]
    own = {"platform": None, "other_tenant": world.b.id}.get(caller, world.a.id)
    for index, code in refused.items():
        event = log[index]
        if (own is not None and event.reseller_id != own) or caller == "portal":
            want = "NOT_FOUND"
        else:
            want = "BILLING_ACCESS_REQUIRED" if event.billing else "FORBIDDEN"
        assert code == want, (caller, event.type)
    # and as the log shows it
    listed = {e["id"]: e for e in await _all(api, token(world, caller), first=100)}
    for event in fetched:
        if event is not None:
            assert event["payload"] == listed[event["id"]]["payload"]


async def test_the_portal_sees_its_own_posted_invoice_and_payment(
    api: Api, world: World, log: list[Event]
):
    seen = await _all(api, token(world, "portal"))
    assert [e["type"] for e in seen] == ["invoice.posted", "payment.succeeded", "invoice.paid"]
    assert all(e["payload"].get("status") != "DRAFT" for e in seen)


async def test_no_event_crosses_tenants(api: Api, world: World, log: list[Event]):
    a_objects = {e.object_id for e in log if e.reseller_id == world.a.id}
    b_objects = {e.object_id for e in log if e.reseller_id == world.b.id}
    assert a_objects and b_objects and not a_objects & b_objects
    for who in ("owner", "billing_manager", "member", "client_all", "client_read", "portal"):
        seen_by_b = {e["objectId"] for e in await _all(api, world.token(who, world.b))}
        seen_by_a = {e["objectId"] for e in await _all(api, world.token(who, world.a))}
        assert seen_by_b <= b_objects and seen_by_a <= a_objects, who
    # a cursor of B's log, given to A, only says where to start in A's
    b_cursor = (await api(EVENTS, {"first": 1}, world.token("owner", world.b)))["data"]["events"][
        "edges"
    ][0]["cursor"]
    after = await api(EVENTS, {"after": b_cursor, "first": 100}, world.token("owner", world.a))
    assert {e["objectId"] for e in nodes(after)} <= a_objects


@pytest.mark.postgresql
async def test_row_level_security_keeps_other_tenants_events_out(
    postgres: Postgres, world: World, log: list[Event], backend: str
):
    if backend != "postgresql":
        pytest.skip("row-level security is PostgreSQL's")
    connection = await asyncpg.connect(Postgres.plain(postgres.app_url))
    try:
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true)", str(world.a.id)
            )
            resellers = await connection.fetch("SELECT DISTINCT reseller_id FROM events")
            assert [r["reseller_id"] for r in resellers] == [world.a.id]
        async with connection.transaction():
            await connection.execute(
                "SELECT set_config('app.reseller_id', $1, true),"
                " set_config('app.customer_id', $2, true)",
                str(world.a.id),
                str(world.a.customers[0]),
            )
            customers = await connection.fetch("SELECT DISTINCT customer_id FROM events")
            assert [r["customer_id"] for r in customers] == [world.a.customers[0]]
        assert await connection.fetch("SELECT id FROM events") == []  # no tenant set
    finally:
        await connection.close()


async def test_pages_in_order_and_filters_by_type(api: Api, world: World, log: list[Event]):
    owner = world.token("owner", world.a)
    every = await _all(api, owner, first=100)
    assert await _all(api, owner, first=2) == every == await _all(api, owner, first=1)
    times = [e["occurredAt"] for e in every]
    assert times == sorted(times)
    posted = nodes(await api(EVENTS, {"types": ["invoice.posted", "invoice.paid"]}, owner))
    assert [e["type"] for e in posted] == ["invoice.posted", "invoice.posted", "invoice.paid"]
    assert posted == [e for e in every if e["type"] in ("invoice.posted", "invoice.paid")]


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"types": ["invoice.exploded"]}, "types"),
        ({"after": "bm90LWEtY3Vyc29y"}, "after"),
        ({"first": 101}, "first"),
        ({"first": -1}, "first"),
    ],
)
async def test_bad_arguments_are_refused_with_a_code(
    api: Api,
    world: World,
    variables: dict,
    field: str,  # type: ignore[type-arg]
):
    body = await api(EVENTS, variables, world.token("owner", world.a))
    assert error_codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["extensions"]["field"] == field
    assert "Traceback" not in str(body)
