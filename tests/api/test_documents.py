"""Invoice and statement documents over HTTP: a signed link from GraphQL (downloadUrl), then
GET /documents/{token}. Every format of every invoice status, and of a statement; the PDF kept per
version; links that must not open; who gets links at all."""

from __future__ import annotations

import codecs
import csv
import io
import uuid
from typing import Any
from urllib.parse import urlsplit

import pypdf
import pytest
from starlette.applications import Starlette

from auth.tokens import USER_AUDIENCE, TokenSigner
from billing.models import InvoiceKind
from db.database import Database
from db.scope import TenantScope
from documents.links import DOCUMENT_AUDIENCE
from schema.relay import from_global_id, to_global_id
from tests.billing.drafts import load, month, retail_drafts, run_billing, subscribe
from tests.catalog import Shop, make_catalog
from tests.conftest import Api, error_codes
from tests.factories import World

INVOICE_LINK = """query($id: ID!, $format: DocumentFormat!) {
  node(id: $id) { ... on Invoice { number documentId status total { amount formatted }
    lines { description } downloadUrl(format: $format) } }
}"""
STATEMENT_LINK = """query($id: ID!, $format: DocumentFormat!) {
  node(id: $id) { ... on Customer {
    statement(from: "2000-01-01", to: "2099-12-31") {
      closingBalance { amount formatted } entries { kind reference }
      downloadUrl(format: $format) } } }
}"""
RESELLER_STATEMENT_LINK = """query($id: ID!, $format: DocumentFormat!) {
  node(id: $id) { ... on Reseller {
    statement(from: "2000-01-01", to: "2099-12-31") { downloadUrl(format: $format) } } }
}"""
UPDATE_STATUS = """mutation($id: ID!, $status: InvoiceStatus!) {
  updateInvoiceStatus(input: {invoiceId: $id, status: $status, notifyCustomer: false}) {
    invoice { status number } errors { code message }
  }
}"""
SET_BILLING_ACCESS = """mutation($id: ID!, $enabled: Boolean!) {
  setBillingAccess(input: {userId: $id, enabled: $enabled}) { errors { code } }
}"""
FORMATS = ("PDF", "CSV", "DETAILED_CSV", "HTML")
CONTENT_TYPES = {
    "PDF": "application/pdf",
    "CSV": "text/csv; charset=utf-8; header=present",
    "DETAILED_CSV": "text/csv; charset=utf-8; header=present",
    "HTML": "text/html; charset=utf-8",
}
NOT_FOUND = (404, b"Not Found")


def gid(type_name: str, id_: Any) -> str:
    return to_global_id(type_name, id_)


async def link(api: Api, token: str, document: str, id_: str, fmt: str) -> str:
    body = await api(document, {"id": id_, "format": fmt}, token)
    assert "errors" not in body, body
    node = body["data"]["node"]
    found = node.get("statement") or node
    url: str = found["downloadUrl"]
    return url


async def fetch(api: Api, url: str) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    response = await api.client.get(parts.path)
    return response.status_code, dict(response.headers), response.content


def pdf_pages(body: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(body)).pages]


def csv_rows(body: bytes) -> list[dict[str, str]]:
    assert body.startswith(codecs.BOM_UTF8)  # so that spreadsheets read it as UTF-8
    return list(csv.DictReader(io.StringIO(body.decode("utf-8-sig"), newline="")))


@pytest.fixture
async def shop(db: Database, world: World) -> Shop:
    return await make_catalog(db)


@pytest.fixture
async def invoices(api: Api, db: Database, world: World, shop: Shop) -> dict[str, str]:
    """Four months of one customer's Microsoft invoices: OPEN, CLOSED, VOID and a DRAFT."""
    products = [shop.products["m365"], shop.products["teams"]]
    made = await retail_drafts(db, world.a.id, [world.a.customers[0]], products, periods=4)
    by_month = {}
    for invoice_id in made:
        row = await load(db, invoice_id)
        assert row is not None
        by_month[row.period_start] = gid("Invoice", invoice_id)
    draft, void, closed, open_ = (by_month[k] for k in sorted(by_month, reverse=True))
    token = world.token("billing_manager", world.a)
    for invoice, steps in (
        (open_, ["OPEN"]),
        (closed, ["OPEN", "CLOSED"]),
        (void, ["OPEN", "VOID"]),
    ):
        for status in steps:
            body = await api(UPDATE_STATUS, {"id": invoice, "status": status}, token)
            assert body["data"]["updateInvoiceStatus"]["errors"] == [], body
    return {"OPEN": open_, "CLOSED": closed, "VOID": void, "DRAFT": draft}


@pytest.mark.parametrize("status", ["OPEN", "CLOSED", "VOID", "DRAFT"])
async def test_every_format_of_an_invoice_downloads(
    api: Api, world: World, invoices: dict[str, str], status: str
):
    # given an invoice in this status, as the reseller's billing manager sees it
    token = world.token("billing_manager", world.a)
    seen = await api(INVOICE_LINK, {"id": invoices[status], "format": "PDF"}, token)
    assert "errors" not in seen, seen
    seen = seen["data"]
    invoice = seen["node"]
    reference = invoice["number"] or invoice["documentId"]
    assert invoice["status"] == status

    for fmt in FORMATS:
        # when its link for each format is opened
        url = await link(api, token, INVOICE_LINK, invoices[status], fmt)
        code, headers, body = await fetch(api, url)

        # then the file comes with its type and a file name from the invoice number
        assert code == 200, (fmt, body[:200])
        assert headers["content-type"] == CONTENT_TYPES[fmt]
        ending = {"PDF": ".pdf", "CSV": ".csv", "DETAILED_CSV": "-detailed.csv", "HTML": ".html"}
        assert f'filename="invoice-{reference}{ending[fmt]}"' in headers["content-disposition"]
        assert headers["cache-control"] == "private, no-store"
        if fmt == "PDF":
            pages = pdf_pages(body)
            assert reference in pages[0]
            assert invoice["total"]["formatted"] in pages[0]
            marked = {"VOID": "VOID", "DRAFT": "DRAFT"}.get(status)
            for page in pages:
                assert (marked in page) if marked else ("VOID" not in page and "DRAFT" not in page)
        elif fmt == "CSV":
            rows = csv_rows(body)
            assert len(rows) == len(invoice["lines"])
            assert {r["status"] for r in rows} == {status}
            assert {r["invoice_number"] for r in rows} == {invoice["number"] or ""}
        elif fmt == "DETAILED_CSV":
            rows = csv_rows(body)
            assert rows and {r["charge_type"] for r in rows} == {"SUBSCRIPTION"}
            assert {r["document_id"] for r in rows} == {invoice["documentId"]}
        else:
            text = body.decode()
            assert reference in text and invoice["total"]["formatted"] in text
            assert "default-src 'none'" in headers["content-security-policy"]
            assert headers["content-disposition"].startswith("inline;")


async def test_every_format_of_a_statement_downloads(
    api: Api, world: World, invoices: dict[str, str]
):
    # given the customer's statement: the OPEN, CLOSED and VOID invoices, the payment and the
    # VOID one's reversal
    token = world.token("billing_manager", world.a)
    customer = gid("Customer", world.a.customers[0])
    body = await api(STATEMENT_LINK, {"id": customer, "format": "CSV"}, token)
    statement = body["data"]["node"]["statement"]
    numbers = {e["reference"] for e in statement["entries"]}
    assert len(numbers) == 3
    assert sorted(e["kind"] for e in statement["entries"]) == [
        "INVOICE",
        "INVOICE",
        "INVOICE",
        "PAYMENT",
        "VOID",
    ]

    for fmt in FORMATS:
        # when each format is downloaded
        code, headers, content = await fetch(
            api, await link(api, token, STATEMENT_LINK, customer, fmt)
        )

        # then it holds the same entries and closing balance
        assert code == 200, (fmt, content[:200])
        assert headers["content-type"] == CONTENT_TYPES[fmt]
        assert (
            'filename="statement-alpha-customer-1-2000-01-01-2099-12-31'
            in headers["content-disposition"]
        )
        if fmt == "PDF":
            text = "\n".join(pdf_pages(content))
            assert statement["closingBalance"]["formatted"] in text
            assert all(n in text for n in numbers)
        elif fmt == "CSV":
            rows = csv_rows(content)
            assert [r["kind"] for r in rows] == [
                "OPENING_BALANCE",
                *(e["kind"] for e in statement["entries"]),
                "CLOSING_BALANCE",
            ]
            assert rows[-1]["balance"] == statement["closingBalance"]["amount"]
        elif fmt == "DETAILED_CSV":
            rows = csv_rows(content)
            assert {r["invoice_number"] for r in rows} == numbers
        else:
            text = content.decode()
            assert statement["closingBalance"]["formatted"] in text


async def test_a_posted_pdf_is_rendered_once_per_version(
    api: Api, app: Starlette, world: World, invoices: dict[str, str]
):
    documents = app.state.services.documents
    token = world.token("billing_manager", world.a)
    open_ = invoices["OPEN"]

    # given an OPEN invoice's PDF downloaded once
    first = await fetch(api, await link(api, token, INVOICE_LINK, open_, "PDF"))
    renders = documents.pdf_renders

    # when it is downloaded again, through a new link and by another user
    again = await fetch(api, await link(api, token, INVOICE_LINK, open_, "PDF"))
    owner = world.token("owner", world.a)
    by_owner = await fetch(api, await link(api, owner, INVOICE_LINK, open_, "PDF"))

    # then the kept file is served, not drawn again
    assert documents.pdf_renders == renders
    assert first[2] == again[2] == by_owner[2]

    # when its status changes, the next download is a new version
    await api(UPDATE_STATUS, {"id": open_, "status": "CLOSED"}, token)
    closed = await fetch(api, await link(api, token, INVOICE_LINK, open_, "PDF"))
    assert documents.pdf_renders == renders + 1
    assert closed[2] != first[2]
    assert "CLOSED" in pdf_pages(closed[2])[0]

    # a draft changes until it is posted: drawn every time
    before = documents.pdf_renders
    for _ in range(2):
        await fetch(api, await link(api, token, INVOICE_LINK, invoices["DRAFT"], "PDF"))
    assert documents.pdf_renders == before + 2


async def other_tenants_invoice(api: Api, db: Database, world: World, shop: Shop) -> str:
    """An OPEN invoice of tenant B; its database id."""
    made = await retail_drafts(db, world.b.id, [world.b.customers[0]], [shop.products["m365"]])
    token = world.token("billing_manager", world.b)
    body = await api(UPDATE_STATUS, {"id": gid("Invoice", made[0]), "status": "OPEN"}, token)
    assert body["data"]["updateInvoiceStatus"]["errors"] == []
    return str(made[0])


async def test_links_that_must_not_open(
    api: Api, db: Database, signer: TokenSigner, world: World, shop: Shop, invoices: dict[str, str]
):
    # given a real link, and links signed with the right key but naming something else
    token = world.token("billing_manager", world.a)
    good = urlsplit(await link(api, token, INVOICE_LINK, invoices["OPEN"], "PDF")).path
    good = good.rsplit("/", 1)[1]
    found = from_global_id(invoices["OPEN"])
    assert found is not None
    own = str(found[1])
    theirs = await other_tenants_invoice(api, db, world, shop)
    user = f"user:{world.a.users['billing_manager']}"

    def forged(ttl: int = 900, audience: str = DOCUMENT_AUDIENCE, **claims: Any) -> str:
        base = {
            "rid": str(world.a.id),
            "sid": str(world.sessions[world.a.users["billing_manager"]]),
            "fmt": "PDF",
            "doc": "invoice",
            "tid": str(world.a.id),
        }
        return signer.issue(user, audience, ttl, **{**base, **claims}).token

    header, payload, signature = good.split(".")
    flipped = "A" if payload[10] != "A" else "B"
    refused = {
        "tampered payload": f"{header}.{payload[:10]}{flipped}{payload[11:]}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-3]}{'AAA' if signature[-3:] != 'AAA' else 'BBB'}",
        "expired": forged(ttl=-120, oid=own),
        "an access token": token,
        "the API's audience": forged(audience=USER_AUDIENCE, oid=own),
        "another tenant's invoice": forged(oid=theirs),
        "another tenant's invoice, its tenant named": forged(oid=theirs, tid=str(world.b.id)),
        "own invoice, another tenant named": forged(oid=own, tid=str(world.b.id)),
        "no such invoice": forged(oid=str(uuid.uuid4())),
        "an unknown format": forged(oid=own, fmt="XLSX"),
        "no token": "not-a-token",
        "no sign-in named": forged(oid=own, sid=None),
    }

    # then the real one and a well-formed forged one open
    assert (await api.client.get(f"/documents/{good}")).status_code == 200
    assert (await api.client.get(f"/documents/{forged(oid=own)}")).status_code == 200
    # and every other answers the same bare 404
    for why, candidate in refused.items():
        response = await api.client.get(f"/documents/{candidate}")
        assert (response.status_code, response.content) == NOT_FOUND, why


async def test_who_gets_links(api: Api, world: World, invoices: dict[str, str]):
    customer = gid("Customer", world.a.customers[0])
    # a customer portal: its posted invoices and its statement, never the draft
    portal = world.token("portal", world.a)
    url = await link(api, portal, INVOICE_LINK, invoices["OPEN"], "PDF")
    assert (await fetch(api, url))[0] == 200
    draft = await api(INVOICE_LINK, {"id": invoices["DRAFT"], "format": "PDF"}, portal)
    assert draft["data"]["node"] is None
    url = await link(api, portal, STATEMENT_LINK, customer, "CSV")
    assert (await fetch(api, url))[0] == 200

    # a user without billing access, an API client without billing:read: no link at all
    for who in ("member", "manager", "client_read"):
        body = await api(
            INVOICE_LINK, {"id": invoices["OPEN"], "format": "PDF"}, world.token(who, world.a)
        )
        assert body["data"]["node"] is None, who
        assert error_codes(body) == ["BILLING_ACCESS_REQUIRED"], who
        body = await api(
            STATEMENT_LINK, {"id": customer, "format": "PDF"}, world.token(who, world.a)
        )
        assert body["data"]["node"]["statement"] is None, who
        assert error_codes(body) == ["BILLING_ACCESS_REQUIRED"], who

    # another tenant's users do not see the invoice, so get no link to it
    body = await api(
        INVOICE_LINK, {"id": invoices["OPEN"], "format": "PDF"}, world.token("owner", world.b)
    )
    assert body["data"]["node"] is None

    # no token: nothing
    body = await api(INVOICE_LINK, {"id": invoices["OPEN"], "format": "PDF"})
    assert body["data"]["node"] is None


async def test_a_link_closes_when_its_caller_loses_billing_access(
    api: Api, world: World, invoices: dict[str, str]
):
    # given a link a billing member asked for
    member = world.token("billing_member", world.a)
    url = await link(api, member, INVOICE_LINK, invoices["OPEN"], "CSV")
    assert (await fetch(api, url))[0] == 200

    # when the owner takes billing access away
    owner = world.token("owner", world.a)
    user = gid("User", world.a.users["billing_member"])
    body = await api(SET_BILLING_ACCESS, {"id": user, "enabled": False}, owner)
    assert body["data"]["setBillingAccess"]["errors"] == []

    # then the link no longer opens
    assert (await fetch(api, url))[:1] == (404,)


async def test_wholesale_documents(api: Api, db: Database, world: World, shop: Shop):
    # given the platform's wholesale draft to reseller A
    await subscribe(db, world.a.id, [world.a.customers[0]], [shop.products["m365"]])
    [draft] = await run_billing(db, TenantScope.system(), month(10), kind=InvoiceKind.WHOLESALE)
    invoice = gid("Invoice", draft)
    admin = world.token("platform", None)
    owner = world.token("owner", world.a)

    # the platform downloads it; the reseller (its buyer) does not even see it
    url = await link(api, admin, INVOICE_LINK, invoice, "PDF")
    assert "DRAFT" in pdf_pages((await fetch(api, url))[2])[0]
    assert (await api(INVOICE_LINK, {"id": invoice, "format": "PDF"}, owner))["data"][
        "node"
    ] is None

    # once posted, the reseller downloads it, and its statement with the platform
    body = await api(UPDATE_STATUS, {"id": invoice, "status": "OPEN"}, admin)
    number = body["data"]["updateInvoiceStatus"]["invoice"]["number"]
    url = await link(api, owner, INVOICE_LINK, invoice, "PDF")
    assert number in pdf_pages((await fetch(api, url))[2])[0]
    reseller = gid("Reseller", world.a.id)
    url = await link(api, owner, RESELLER_STATEMENT_LINK, reseller, "CSV")
    rows = csv_rows((await fetch(api, url))[2])
    assert [r["reference"] for r in rows if r["kind"] == "INVOICE"] == [number]

    # a customer portal never gets the reseller's own statement
    body = await api(
        RESELLER_STATEMENT_LINK, {"id": reseller, "format": "CSV"}, world.token("portal", world.a)
    )
    assert not (body["data"]["node"] or {}).get("statement")


async def test_unknown_paths_answer_404(api: Api):
    for path in ("/documents/", "/documents/x.y.z", "/documents/%00"):
        response = await api.client.get(path)
        assert response.status_code == 404, path
