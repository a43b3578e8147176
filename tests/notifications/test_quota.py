"""Mail on request is budgeted per reseller: sendInvoice per message, sendTestNotification per
preview; each aliased mutation spends; a refused send queues nothing; tenants do not share."""

from __future__ import annotations

from db.database import Database
from tests.catalog import Shop
from tests.conftest import Api
from tests.factories import World
from tests.notifications.test_invoice_emails import POST, draft_of

SEND = """mutation($input: SendInvoiceInput!) {
  sendInvoice(input: $input) { recipients errors { code message } }
}"""
QUEUED = """query($id: ID!) { node(id: $id) { ... on Invoice { notifications { origin } } } }"""


def aliased_tests(count: int) -> str:
    fields = " ".join(
        f"t{n}: sendTestNotification(input: {{event: INVOICE_POSTED}}) {{ errors {{ code }} }}"
        for n in range(count)
    )
    return f"mutation {{ {fields} }}"


async def posted(api: Api, db: Database, world: World, shop: Shop, tenant: str) -> str:
    invoice = await draft_of(db, world, shop, tenant)
    body = await api(
        POST.replace("status: $status}", "status: $status, notifyCustomer: false}"),
        {"id": invoice, "status": "OPEN"},
        world.token("owner", getattr(world, tenant)),
    )
    assert body["data"]["updateInvoiceStatus"]["errors"] == []
    return invoice


async def copies(api: Api, token: str, invoice: str) -> int:
    body = await api(QUEUED, {"id": invoice}, token)
    return sum(n["origin"] == "COPY" for n in body["data"]["node"]["notifications"])


async def test_invoice_copies_are_budgeted_per_message_and_reseller(
    api: Api, db: Database, world: World, shop: Shop
):
    # given A has mailed 50 copies (five sends to ten addresses)
    owner = world.token("owner", world.a)
    invoice = await posted(api, db, world, shop, "a")
    ten = [f"r{n}@example.org" for n in range(10)]
    for _ in range(5):
        body = await api(SEND, {"input": {"invoiceId": invoice, "to": ten}}, owner)
        assert body["data"]["sendInvoice"]["errors"] == []
    # when it sends one more
    body = await api(SEND, {"input": {"invoiceId": invoice, "to": ["x@example.org"]}}, owner)
    # then it is refused, saying how long to wait, and nothing more is queued
    [error] = body["data"]["sendInvoice"]["errors"]
    assert error["code"] == "RATE_LIMITED"
    assert error["message"].startswith("too many invoice copies sent: try again in ")
    assert await copies(api, owner, invoice) == 50
    # and B's budget is its own
    other = await posted(api, db, world, shop, "b")
    body = await api(
        SEND, {"input": {"invoiceId": other, "to": ten}}, world.token("owner", world.b)
    )
    assert body["data"]["sendInvoice"]["errors"] == []


async def test_each_aliased_test_notification_spends(api: Api, world: World):
    # when one request sends 15 test notifications through aliases
    body = await api(aliased_tests(15), token=world.token("owner", world.a))
    # then ten go out and five are refused
    codes = [(body["data"][f"t{n}"]["errors"] or [{"code": None}])[0]["code"] for n in range(15)]
    assert codes.count(None) == 10
    assert codes.count("RATE_LIMITED") == 5
    # and another reseller may still send
    again = await api(aliased_tests(1), token=world.token("owner", world.b))
    assert again["data"]["t0"]["errors"] == []
