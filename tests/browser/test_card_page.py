"""The card page in a real browser: on Stripe (localstripe in its own process, its Stripe.js
stand-in loaded by the page) and on the sandbox. The card number is typed into the gateway's
fields and must never reach our server: every request the page makes to it is recorded and
searched for a card number."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from playwright.sync_api import Page, Request, expect

from tests.browser.conftest import (
    ARTIFACTS,
    DEMO_PASSWORD,
    PAGE_TIMEOUT_MS,
    LiveServer,
    OfflinePage,
    _serving,
)
from tests.browser.test_graphiql import assert_stayed_offline
from tests.payments.localstripe import SECRET_KEY, LocalStripe

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "card"
PHONE = {"width": 390, "height": 844}
PUBLISHABLE_KEY = "pk_test_channelbill"
CARD_NUMBER = re.compile(r"\d{13,19}")
CARD_ON_FILE = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken refreshToken }
}"""
VIEWER_CARD = "{ viewer { reseller { status paymentMethod { brand last4 } } } }"


@dataclass
class Recorded:
    """What the page sent to our own server."""

    origin: str
    requests: list[str] = field(default_factory=list)

    def __call__(self, request: Request) -> None:
        if request.url.startswith(self.origin):
            self.requests.append(f"{request.url}\n{request.post_data or ''}")

    def carrying_a_card_number(self) -> list[str]:
        return [r for r in self.requests if CARD_NUMBER.search(r.replace(" ", ""))]


@pytest.fixture(scope="module")
def stripe_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The server charging through Stripe: localstripe, whose Stripe.js the card page loads."""
    localstripe = LocalStripe()
    localstripe.start()
    try:
        with _serving(
            tmp_path_factory,
            PAYMENT_GATEWAY="stripe",
            STRIPE_SECRET_KEY=SECRET_KEY,
            STRIPE_PUBLISHABLE_KEY=PUBLISHABLE_KEY,
            STRIPE_API_BASE=localstripe.url,
            STRIPE_JS_URL=f"{localstripe.url}/js.stripe.com/v3/",
        ) as live:
            yield live
    finally:
        localstripe.stop()


def card_on_file(server: LiveServer, email: str) -> dict[str, str] | None:
    """The reseller's card as the API tells it, to the user ``email``."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        login = client.post(
            "/graphql",
            json={"query": CARD_ON_FILE, "variables": {"email": email, "password": DEMO_PASSWORD}},
        ).json()
        token = login["data"]["login"]["accessToken"]
        body = client.post(
            "/graphql", json={"query": VIEWER_CARD}, headers={"Authorization": f"Bearer {token}"}
        ).json()
    card: dict[str, str] | None = body["data"]["viewer"]["reseller"]["paymentMethod"]
    return card


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def open_signed_in(page: Page, server: LiveServer, email: str) -> Recorded:
    recorded = Recorded(server.url)
    page.on("request", recorded)
    page.set_viewport_size(PHONE)
    response = page.goto(server.url + "/billing/card", wait_until="load")
    assert response is not None and response.status == 200
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Card on file", exact=True)).to_be_visible()
    return recorded


def type_card(page: Page, number: str) -> None:
    """Into localstripe's stand-in for the card element (plain fields, named by placeholder)."""
    fields = page.locator("#card-element")
    for name, value in (
        ("number", number),
        ("exp_month", "12"),
        ("exp_year", "30"),
        ("cvc", "123"),
        ("postal_code", "10115"),
    ):
        fields.locator(f"input[placeholder={name}]").fill(value)
    page.get_by_role("button", name="Save this card").click()


def test_the_card_page_allows_only_our_origin_and_the_gateways_script(
    stripe_server: LiveServer, offline_page: OfflinePage
) -> None:
    # when the card page is opened on a server charging through Stripe
    page = offline_page.page
    response = page.goto(stripe_server.url + "/billing/card", wait_until="load")
    # then its policy names our origin and localstripe's, and nothing else
    assert response is not None and response.status == 200
    policy = response.headers["content-security-policy"]
    origins = set(re.findall(r"https?://[^\s;]+", policy))
    js_origin = re.search(r"script-src 'self' (\S+);", policy)
    assert js_origin is not None, policy
    assert origins == {js_origin.group(1)}
    assert js_origin.group(1).startswith("http://127.0.0.1:")
    assert "default-src 'self'" in policy
    # and it asks for a sign-in first
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert_stayed_offline(offline_page)


def test_a_declining_card_shows_the_gateways_message(
    stripe_server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the Globex owner on the card page, its card as it is
    email = "owner@globex.example"
    before = card_on_file(stripe_server, email)
    page = offline_page.page
    recorded = open_signed_in(page, stripe_server, email)
    # when a card the gateway declines is typed in
    type_card(page, "4000000000000002")
    # then the gateway's words are shown, and the card on file is unchanged
    expect(page.get_by_role("alert")).to_contain_text(
        "Your card was declined.", timeout=PAGE_TIMEOUT_MS
    )
    shoot(page, "declined")
    assert card_on_file(stripe_server, email) == before
    assert recorded.carrying_a_card_number() == []
    assert_stayed_offline(offline_page)


def test_a_3d_secure_card_passes_its_challenge_and_is_kept(
    stripe_server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the Globex owner on the card page
    email = "owner@globex.example"
    page = offline_page.page
    recorded = open_signed_in(page, stripe_server, email)
    # when a card that asks for 3-D Secure is typed in and its holder completes the challenge
    type_card(page, "4000002500003155")
    challenge = page.get_by_role("button", name="Complete authentication")
    expect(challenge).to_be_visible()
    shoot(page, "3ds-challenge")
    challenge.click()
    # then it is the card on file, on the page and in the API
    expect(page.get_by_role("status")).to_contain_text("ending 3155", timeout=PAGE_TIMEOUT_MS)
    assert card_on_file(stripe_server, email) == {"brand": "visa", "last4": "3155"}
    assert recorded.carrying_a_card_number() == []
    assert_stayed_offline(offline_page)


def test_4242_becomes_the_card_on_file_and_no_request_to_us_carries_its_number(
    stripe_server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the Acme owner on the card page, in a phone-sized browser
    email = "owner@acme.example"
    page = offline_page.page
    recorded = open_signed_in(page, stripe_server, email)
    shoot(page, "stripe-form")
    # when Stripe's good test card is typed in
    type_card(page, "4242424242424242")
    # then the page shows it as the card on file, and so does the API
    expect(page.get_by_role("status")).to_contain_text("Visa ending 4242", timeout=PAGE_TIMEOUT_MS)
    expect(page.locator("#current-card")).to_contain_text("Visa ending 4242")
    shoot(page, "stripe-saved")
    assert card_on_file(stripe_server, email) == {"brand": "visa", "last4": "4242"}
    # and the page talked to us (GraphQL) without ever sending the number
    assert any("updatePaymentMethod" in r for r in recorded.requests)
    assert any("seti_" in r for r in recorded.requests)
    assert recorded.carrying_a_card_number() == []
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert_stayed_offline(offline_page)


def test_on_the_sandbox_a_test_token_picked_from_the_list_is_the_card_on_file(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the Acme owner on the card page of a server on the sandbox gateway
    email = "owner@acme.example"
    page = offline_page.page
    open_signed_in(page, server, email)
    # then the page says it is the sandbox, and lists its test tokens instead of card fields
    expect(page.get_by_text("This is the sandbox payment gateway")).to_be_visible()
    assert page.locator("#card-element").count() == 0
    shoot(page, "sandbox-form")
    # when pm_card_mastercard, then pm_card_visa is picked and saved
    for token, last4 in (("pm_card_mastercard", "4444"), ("pm_card_visa", "4242")):
        page.get_by_label(re.compile(token + " ")).check()
        page.get_by_role("button", name="Save this card").click()
        # then it is the card on file, on the page and in the API
        expect(page.get_by_role("status")).to_contain_text(f"ending {last4}")
        assert card_on_file(server, email) == {"brand": token[8:].split("_")[0], "last4": last4}
    shoot(page, "sandbox-saved")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert_stayed_offline(offline_page)


def test_a_deactivated_account_is_reactivated_by_the_card_it_saves(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given Globex deactivated (in the server's own database: the embedded SQLite)
    email = "owner@globex.example"
    with sqlite3.connect(server.log_path.parent / "browser.sqlite3") as database:
        database.execute("UPDATE resellers SET status = 'DEACTIVATED' WHERE name = 'Globex IT'")
    page = offline_page.page
    open_signed_in(page, server, email)
    expect(page.locator("#status")).to_contain_text("deactivated")
    # when its owner saves a good test card
    page.get_by_label(re.compile("pm_card_amex ")).check()
    page.get_by_role("button", name="Save this card").click()
    # then the account is ACTIVE again, with that card, on the page and in the API
    expect(page.get_by_role("status")).to_contain_text("Amex ending 8431")
    expect(page.locator("#status")).to_have_text("active")
    shoot(page, "reactivated")
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        login = client.post(
            "/graphql",
            json={"query": CARD_ON_FILE, "variables": {"email": email, "password": DEMO_PASSWORD}},
        ).json()
        body = client.post(
            "/graphql",
            json={"query": VIEWER_CARD},
            headers={"Authorization": f"Bearer {login['data']['login']['accessToken']}"},
        ).json()
    assert body["data"]["viewer"]["reseller"] == {
        "status": "ACTIVE",
        "paymentMethod": {"brand": "amex", "last4": "8431"},
    }
    assert_stayed_offline(offline_page)


def test_a_sign_in_from_graphiqls_bar_in_the_same_tab_is_reused(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the tokens GraphiQL's sign-in bar keeps in this tab's session storage
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        variables = {"email": "owner@acme.example", "password": DEMO_PASSWORD}
        login = client.post("/graphql", json={"query": CARD_ON_FILE, "variables": variables})
    tokens = login.json()["data"]["login"]
    page = offline_page.page
    page.goto(server.url + "/graphql", wait_until="load")
    page.evaluate(
        """(t) => sessionStorage.setItem("channelbill.graphiql.session", JSON.stringify({
             access: t.accessToken, refresh: t.refreshToken,
             expiresAtMs: Date.now() + 600000, who: "owner@acme.example"}))""",
        tokens,
    )
    # when the card page opens in that tab
    page.goto(server.url + "/billing/card", wait_until="load")
    # then it shows the card on file without asking for a sign-in
    expect(page.get_by_role("heading", name="Card on file", exact=True)).to_be_visible()
    expect(page.locator("#reseller-name")).to_have_text("Acme Cloud")
    assert page.get_by_role("heading", name="Sign in").is_hidden()
    assert_stayed_offline(offline_page)


def test_a_refused_test_token_shows_the_sandboxs_message(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given the Globex owner on the sandbox's card page
    page = offline_page.page
    open_signed_in(page, server, "owner@globex.example")
    # when a token the sandbox refuses at saving is picked
    page.get_by_label(re.compile("pm_card_chargeDeclinedExpiredCard ")).check()
    page.get_by_role("button", name="Save this card").click()
    # then its words are shown
    expect(page.get_by_role("alert")).to_contain_text("Your card has expired.")
    assert_stayed_offline(offline_page)
