"""The customer portal in a real browser, opened from the link createCustomerPortalToken gives:
the customer's balance, its posted invoices (never a draft, never another customer's), an
invoice's detail and its PDF, statements; revoked, expired and missing links; the token off the
address bar and out of the access log; the CSP; German for a German browser; phone width;
screenshots of every view and an axe-core scan of each."""

from __future__ import annotations

import base64
import csv
import functools
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from auth.tokens import PORTAL_AUDIENCE, TokenSigner
from schema.relay import from_global_id
from server.pages import PORTAL_POLICY
from server.settings import DEV_KEY_FILE
from tests.browser.conftest import (
    ARTIFACTS,
    LOGIN_OWNER,
    PAGE_TIMEOUT_MS,
    LiveServer,
    OfflinePage,
    launched_browser,
    offline_tab,
    serving_on,
)
from tests.browser.test_graphiql import assert_stayed_offline
from tests.documents.test_versions import pdf_text
from tests.npm import installed

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "portal"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 780}
AXE_DIR = Path(__file__).resolve().parent / "axe"
CUSTOMER = """query($name: String!) { customers(search: $name, first: 1) {
  edges { node { id name } } } }"""
CREATE = """mutation($id: ID!, $ttl: Int) {
  createCustomerPortalToken(input: {customerId: $id, ttlMinutes: $ttl}) {
    token url portalToken { id } errors { code message } } }"""
REVOKE = """mutation($id: ID!) { revokeCustomerPortalToken(input: {portalTokenId: $id}) {
  portalToken { revokedAt } errors { code } } }"""
INVOICES = """query($id: ID!) { invoices(first: 50, filter: {customerId: $id}) {
  edges { node { id number status total { amount } amountPaid { amount } } } } }"""


@dataclass(frozen=True)
class PortalLink:
    url: str
    token: str
    portal_token_id: str
    customer_id: str


def graphql(server: LiveServer, token: str, query: str, **variables: object) -> dict:
    with httpx.Client(base_url=server.url, timeout=20.0) as client:
        response = client.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200, response.text
    body: dict = response.json()
    assert "errors" not in body, body
    return body["data"]


def customer_id(server: LiveServer, owner_token: str, name: str) -> str:
    edges = graphql(server, owner_token, CUSTOMER, name=name)["customers"]["edges"]
    assert [e["node"]["name"] for e in edges] == [name]
    return str(edges[0]["node"]["id"])


def portal_link(server: LiveServer, owner_token: str, name: str) -> PortalLink:
    """What a reseller does: a portal token for one of its customers, and its link."""
    cid = customer_id(server, owner_token, name)
    made = graphql(server, owner_token, CREATE, id=cid, ttl=60)["createCustomerPortalToken"]
    assert made["errors"] == [], made
    return PortalLink(made["url"], made["token"], made["portalToken"]["id"], cid)


def invoices_of(server: LiveServer, owner_token: str, cid: str) -> list[dict]:
    """The customer's invoices as its reseller sees them (drafts too)."""
    edges = graphql(server, owner_token, INVOICES, id=cid)["invoices"]["edges"]
    return [e["node"] for e in edges]


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def assert_fits(page: Page) -> None:
    """Nothing wider than the viewport, and every text shown (not clipped, not zero-sized)."""
    width = page.viewport_size["width"] if page.viewport_size else 0
    scroll = page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"the page is {scroll} px wide at {width} px"
    overflowing = page.evaluate(
        """(width) => [...document.querySelectorAll('body *')].filter((e) => {
             const r = e.getBoundingClientRect();
             const hidden = e.closest('.visually-hidden, [hidden]');
             return !hidden && r.width > 0 && (r.right > width + 0.5 || r.left < -0.5);
           }).map((e) => e.tagName + '.' + e.className + ': ' + e.textContent.slice(0, 40))""",
        width,
    )
    assert overflowing == [], overflowing
    unseen = page.evaluate(
        """() => {
             const out = [];
             const walk = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
             while (walk.nextNode()) {
               const node = walk.currentNode;
               const el = node.parentElement;
               if (!node.textContent.trim() || el.closest('.visually-hidden, [hidden], noscript,'
                   + ' script, style, option')) continue;
               const range = document.createRange();
               range.selectNodeContents(node);
               const r = range.getBoundingClientRect();
               const style = getComputedStyle(el);
               if (r.width < 1 || r.height < 1 || style.visibility === 'hidden'
                   || Number(style.opacity) === 0) out.push(node.textContent.trim().slice(0, 40));
             }
             return out;
           }"""
    )
    assert unseen == [], unseen


def axe_violations(page: Page) -> list[dict]:
    """axe-core's serious and critical violations on the page as it stands. The script is
    evaluated through the browser's devtools protocol, which the page's CSP does not govern:
    the scan needs no bypass_csp, and the page keeps its real policy while scanned."""
    page.evaluate(axe_source() + "\n;0")
    found: list[dict] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
             .map((v) => ({id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map((n) => n.target.join(' '))}))"""
    )
    return [v for v in found if v["impact"] in ("serious", "critical")]


@functools.cache
def axe_source() -> str:
    """axe.min.js, from the npm package as tests/browser/axe/package-lock.json pins it."""
    modules = installed(AXE_DIR, "the accessibility scan runs axe-core from npm")
    return (modules / "axe-core" / "axe.min.js").read_text(encoding="utf-8")


def views_at_both_widths(page: Page, name: str) -> None:
    """A screenshot at desktop and phone width, each checked to fit and scanned by axe-core."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.wait_for_timeout(50)
        assert_fits(page)
        assert axe_violations(page) == [], f"{name} at {label} width"
        shoot(page, f"{name}-{label}")


@pytest.fixture
def portal_page(browser: Browser) -> Iterator[OfflinePage]:
    """A fresh English browser tab, held to 127.0.0.1 (as the conftest's offline_page)."""
    yield from _page(browser, "en-US")


@pytest.fixture
def german_page(browser: Browser) -> Iterator[OfflinePage]:
    yield from _page(browser, "de-DE")


def _page(browser: Browser, locale: str) -> Iterator[OfflinePage]:
    with offline_tab(browser, viewport=DESKTOP, locale=locale, accept_downloads=True) as tab:
        yield tab


def open_link(page: Page, url: str) -> None:
    response = page.goto(url, wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["content-security-policy"] == PORTAL_POLICY
    assert response.headers["referrer-policy"] == "no-referrer"


def test_the_csp_is_strict() -> None:
    directives = dict(d.strip().split(" ", 1) for d in PORTAL_POLICY.split(";"))
    assert directives == {
        "default-src": "'none'",
        "script-src": "'self'",
        "style-src": "'self'",
        "connect-src": "'self'",
        "img-src": "'self' data:",
        "base-uri": "'none'",
        "form-action": "'none'",
        "frame-ancestors": "'none'",
    }


@pytest.fixture
def live(
    backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """The server with the demo data on SQLite, and on the PostgreSQL of the run."""
    with serving_on(backend, request, tmp_path_factory) as running:
        yield running


@pytest.fixture
def own_browser() -> Iterator[Browser]:
    """A browser of the test's own: set up after ``live``, whose PostgreSQL set-up runs an
    event loop of its own, which it may not while Playwright's runs (the module's browser)."""
    with launched_browser() as launched:
        yield launched


@pytest.fixture
def fresh_page(own_browser: Browser) -> Iterator[OfflinePage]:
    yield from _page(own_browser, "en-US")


def sign_in_owner(server: LiveServer) -> str:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        login = client.post("/graphql", json={"query": LOGIN_OWNER}).json()["data"]["login"]
    assert login["errors"] == [], login
    return str(login["accessToken"])


def assert_quiet(browsing: OfflinePage, refused: bool = False) -> None:
    """Nothing off 127.0.0.1, no script error, no CSP report, and no console error but, where
    the test has the API refuse a token, the browser's own line about that 401."""
    assert_stayed_offline(browsing)
    errors = browsing.console_errors
    if refused:
        errors = [e for e in errors if "status of 401" not in e]
    assert errors == []


def test_a_customer_opens_its_link_and_sees_only_its_posted_invoices(
    live: LiveServer, fresh_page: OfflinePage
) -> None:
    server, owner_token, portal_page = live, sign_in_owner(live), fresh_page
    # given the link Acme makes for Contoso (one invoice open, one voided)
    link = portal_link(server, owner_token, "Contoso Pharmaceuticals")
    assert link.url == f"{server.url}/portal#token={link.token}"
    page = portal_page.page
    # when the customer opens it
    open_link(page, link.url)
    # then the account view shows, branded as Acme, and the token has left the address bar
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing for Contoso Pharmaceuticals")
    assert page.url == f"{server.url}/portal"
    assert link.token not in page.url
    banner = page.get_by_role("banner")
    expect(banner).to_contain_text("Acme Cloud")
    expect(banner.locator("img.logo")).to_have_attribute("src", re.compile("^data:image/png;"))
    expect(page.get_by_role("contentinfo")).to_contain_text("Acme Cloud Billing")
    expect(page.get_by_role("contentinfo")).to_contain_text("billing@acme.example")
    assert page.title() == "Your account · Acme Cloud"
    expect(page.get_by_role("heading", name="Balance")).to_be_visible()
    expect(page.locator(".balance")).to_contain_text("You owe €")
    expect(page.get_by_role("row", name=re.compile("Not yet due|days late")).first).to_be_visible()
    # and exactly the customer's posted invoices: the open one first, the voided in the history
    mine = invoices_of(server, owner_token, link.customer_id)
    posted = {i["number"]: i["status"] for i in mine if i["status"] != "DRAFT"}
    assert sorted(posted.values()) == ["OPEN", "VOID"]
    open_table = page.get_by_role("table", name="Open invoices")
    history = page.get_by_role("table", name="History")
    for number, status in posted.items():
        where = open_table if status == "OPEN" else history
        expect(where.get_by_role("link", name=re.compile(f"Invoice {number}"))).to_be_visible()
    expect(page.locator("#view a[href^='#/invoices/']")).to_have_count(len(posted))
    expect(history).to_contain_text("Voided")
    views_at_both_widths(page, "account")
    # (the scan does find what it should: an image with no text alternative)
    page.evaluate("document.querySelector('main').append(document.createElement('img'))")
    assert "image-alt" in [v["id"] for v in axe_violations(page)]
    page.evaluate("document.querySelector('main > img').remove()")

    # when the open invoice is opened
    (number,) = [n for n, s in posted.items() if s == "OPEN"]
    page.set_viewport_size(DESKTOP)
    open_table.get_by_role("link", name=re.compile(f"Invoice {number}")).click()
    # then its detail shows lines, totals, its PO number and the downloads
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Invoice {number}")
    expect(page.locator(".facts")).to_contain_text("CON-2026-118")
    expect(page.get_by_role("table", name="Lines")).to_contain_text("Microsoft 365")
    expect(page.get_by_role("row", name=re.compile("^Total"))).to_contain_text("€")
    expect(page.get_by_role("link", name="PDF")).to_be_visible()
    expect(page.get_by_role("link", name="CSV", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Detailed CSV")).to_be_visible()
    expect(page.get_by_role("link", name=re.compile("Print view"))).to_be_visible()
    # and its total in another currency, at the API's rate
    page.get_by_label("Show the total in").select_option("USD")
    page.get_by_role("button", name="Convert").click()
    expect(page.locator("#converted")).to_contain_text("$", timeout=PAGE_TIMEOUT_MS)
    expect(page.locator("#converted")).to_contain_text("USD per EUR")
    views_at_both_widths(page, "invoice")

    # and its print view opens in a new tab, as a page of its own
    with page.context.expect_page() as opening:
        page.get_by_role("link", name=re.compile("Print view")).click()
    printed = opening.value
    printed.wait_for_load_state()
    expect(printed.locator("body")).to_contain_text(number)
    printed.close()

    # when its PDF is downloaded
    page.set_viewport_size(DESKTOP)
    with page.expect_download() as downloading:
        page.get_by_role("link", name="PDF").click()
    pdf = Path(downloading.value.path()).read_bytes()
    # then it is that invoice's PDF
    assert pdf.startswith(b"%PDF")
    text = pdf_text(pdf)
    assert number in text and "Contoso Pharmaceuticals" in text and "CON-2026-118" in text
    # and so is its CSV
    with page.expect_download() as downloading:
        page.get_by_role("link", name="CSV", exact=True).click()
    rows = list(csv.reader(io.StringIO(Path(downloading.value.path()).read_text("utf-8-sig"))))
    assert len(rows) > 1 and any(number in cell for row in rows for cell in row)

    # when the statements view is opened, for the last three months
    page.get_by_role("navigation").get_by_role("link", name="Statements").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Statements")
    expect(page.get_by_role("heading", level=2)).to_contain_text("Statement,")
    statement = page.get_by_role("table", name=re.compile("^Statement,"))
    expect(statement).to_contain_text(f"Invoice {number}")
    expect(page.get_by_role("link", name="PDF")).to_be_visible()
    views_at_both_widths(page, "statement")
    # and its PDF is the statement
    page.set_viewport_size(DESKTOP)
    with page.expect_download() as downloading:
        page.get_by_role("link", name="PDF").click()
    assert "Contoso Pharmaceuticals" in pdf_text(Path(downloading.value.path()).read_bytes())
    # when another period is chosen, one before any invoice
    page.get_by_label("From", exact=True).fill("2020-01-01")
    page.get_by_label("To", exact=True).fill("2020-01-31")
    page.get_by_role("button", name="Show the statement").click()
    # then that period's statement shows, empty
    expect(page.get_by_role("heading", level=2)).to_have_text(
        "Statement, Jan 1, 2020 to Jan 31, 2020"
    )
    expect(page.get_by_text("Nothing happened in this period.")).to_be_visible()
    # and a period that ends before it starts is refused in words
    page.get_by_label("From", exact=True).fill("2020-02-01")
    page.get_by_role("button", name="Show the statement").click()
    expect(page.get_by_role("alert")).to_contain_text("not after the last day")

    # and the keyboard's focus is always visible
    page.get_by_role("navigation").get_by_role("link", name="Your account").focus()
    page.keyboard.press("Tab")
    focused = page.evaluate(
        "(() => { const s = getComputedStyle(document.activeElement);"
        " return [document.activeElement.textContent, s.outlineStyle, s.outlineWidth]; })()"
    )
    assert focused[0] == "Statements" and focused[1] == "solid" and focused[2] == "3px", focused

    # and the token never reached the server's log
    assert link.token not in server.output()
    assert "/portal" in server.output()  # the log is the access log, and it has the page
    assert_quiet(portal_page)


def test_another_customers_invoice_and_a_draft_are_not_shown(
    server: LiveServer, owner_token: str, portal_page: OfflinePage
) -> None:
    # given Tailspin's link (its AWS invoice is a draft), and Northwind's invoice ids
    link = portal_link(server, owner_token, "Tailspin Toys")
    drafts = [
        i["id"] for i in invoices_of(server, owner_token, link.customer_id) if not i["number"]
    ]
    assert drafts, "the demo has a draft for Tailspin Toys"
    northwind = customer_id(server, owner_token, "Northwind Traders")
    (theirs, *_) = [i["id"] for i in invoices_of(server, owner_token, northwind)]
    page = portal_page.page
    open_link(page, link.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing for Tailspin Toys")
    # then the draft is nowhere
    expect(page.locator("#view a[href^='#/invoices/']")).to_have_count(0)
    expect(page.get_by_text("No invoice is open.")).to_be_visible()
    # when another customer's invoice is asked for by its id
    page.goto(f"{server.url}/portal#/invoices/{theirs}")
    # then the page says there is no such invoice here, and shows nothing of it
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("no such invoice in your account")
    expect(page.get_by_role("heading", level=1)).to_have_text("No such invoice")
    expect(page.locator("#view table")).to_have_count(0)
    expect(page.get_by_role("link", name="Back to your account")).to_be_visible()
    views_at_both_widths(page, "not-yours")
    # and so for its own draft
    page.goto(f"{server.url}/portal#/invoices/{drafts[0]}")
    expect(page.get_by_role("alert")).to_contain_text("no such invoice in your account")
    assert_quiet(portal_page)


def test_a_revoked_link_is_refused_on_the_next_request(
    server: LiveServer, owner_token: str, portal_page: OfflinePage
) -> None:
    link = portal_link(server, owner_token, "Northwind Traders")
    page = portal_page.page
    open_link(page, link.url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Billing for Northwind Traders")
    # when Acme revokes the token while the page is open
    revoked = graphql(server, owner_token, REVOKE, id=link.portal_token_id)
    assert revoked["revokeCustomerPortalToken"]["errors"] == []
    # then the next thing the customer opens is refused, in words
    page.get_by_role("navigation").get_by_role("link", name="Statements").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This link no longer works")
    expect(page.get_by_role("alert")).to_contain_text("Your provider has withdrawn it")
    expect(page.locator("#view table")).to_have_count(0)
    # and nothing on the page still says the link works
    expect(page.get_by_role("navigation")).to_be_hidden()
    expect(page.get_by_role("contentinfo")).not_to_contain_text("This link works until")
    views_at_both_widths(page, "revoked")
    # and a reload does not bring the account back: the tab forgot the token
    page.reload()
    expect(page.get_by_role("alert")).to_contain_text("holds none")
    assert_quiet(portal_page, refused=True)


def test_an_expired_link_and_no_link_say_what_to_do(
    server: LiveServer, owner_token: str, portal_page: OfflinePage
) -> None:
    # given a portal token that ran out two minutes ago (signed with the server's own key)
    link = portal_link(server, owner_token, "Fabrikam Logistics")
    key = (server.log_path.parent / DEV_KEY_FILE).read_text().strip()
    decoded = from_global_id(link.portal_token_id)
    assert decoded is not None
    expired = TokenSigner(key, "channelbill").issue(
        f"portal:{decoded[1]}",
        PORTAL_AUDIENCE,
        -120,
        rid=_claim(link.token, "rid"),
        cid=_claim(link.token, "cid"),
    )
    page = portal_page.page
    open_link(page, f"{server.url}/portal#token={expired.token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("This link has expired")
    expect(page.get_by_role("alert")).to_contain_text("work for a limited time")
    assert "token" not in page.url
    views_at_both_widths(page, "expired")
    # when the page is opened with no link at all (a fresh tab)
    page.context.clear_cookies()
    page.evaluate("sessionStorage.clear()")
    page.goto(f"{server.url}/portal")
    expect(page.get_by_role("alert")).to_contain_text("holds none")
    views_at_both_widths(page, "no-link")
    assert_quiet(portal_page, refused=True)


def _claim(token: str, name: str) -> str:
    """One claim of a JWT (read, not verified: the test made it)."""
    part = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return str(claims[name])


def test_a_payment_shows_on_its_invoice(
    server: LiveServer, owner_token: str, portal_page: OfflinePage
) -> None:
    # given Fabrikam (billed in GBP), who paid half its Microsoft invoice by bank transfer
    link = portal_link(server, owner_token, "Fabrikam Logistics")
    (paid,) = [
        i["number"]
        for i in invoices_of(server, owner_token, link.customer_id)
        if i["amountPaid"]["amount"] != "0.00"
    ]
    page = portal_page.page
    page.clock.install()  # the page's clock, moved on below; the server's stays
    open_link(page, link.url)
    page.get_by_role("link", name=re.compile(f"Invoice {paid}")).click()
    # then the invoice shows its payment
    expect(page.locator(".facts")).to_contain_text("FAB-0042")
    payments = page.get_by_role("table", name="Payments")
    expect(payments).to_contain_text("Bank transfer")
    expect(payments).to_contain_text("£")
    views_at_both_widths(page, "invoice-with-payment")

    # when the customer comes back to the open page after 20 minutes (its links signed for 15)
    page.set_viewport_size(DESKTOP)
    stale = page.get_by_role("link", name="PDF").get_attribute("href")
    page.clock.fast_forward("20:00")
    with page.expect_download() as downloading:
        page.get_by_role("link", name="PDF").click()
    # then the page asked for a fresh link, and the PDF came
    assert page.get_by_role("link", name="PDF").get_attribute("href") != stale
    assert paid in pdf_text(Path(downloading.value.path()).read_bytes())
    assert_quiet(portal_page)


def test_a_german_browser_gets_german_words_dates_and_money(
    server: LiveServer, owner_token: str, german_page: OfflinePage
) -> None:
    link = portal_link(server, owner_token, "Contoso Pharmaceuticals")
    page = german_page.page
    open_link(page, link.url)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Rechnungen für Contoso Pharmaceuticals"
    )
    assert page.evaluate("document.documentElement.lang") == "de"
    # German money: the euro sign after the amount, a decimal comma
    expect(page.locator(".balance")).to_contain_text(re.compile(r"\d,\d\d\s€"))
    page.get_by_role("table", name="Offene Rechnungen").get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Positionen")).to_be_visible()
    # a German date: "01.12.2026"
    expect(page.locator(".facts")).to_contain_text(re.compile(r"Ausgestellt\d{2}\.\d{2}\.\d{4}"))
    views_at_both_widths(page, "invoice-de")
    assert_quiet(german_page)
