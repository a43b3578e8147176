"""The server's own pages in a real browser: the front page, and the activation page opened from
a real invitation email (written by the file transport of the embedded default)."""

from __future__ import annotations

import email
import re
import time
from email import policy

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import ARTIFACTS, PAGE_TIMEOUT_MS, LiveServer, OfflinePage
from tests.browser.test_graphiql import assert_stayed_offline

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "pages"
PHONE = {"width": 390, "height": 844}
INVITE = """mutation($email: String!) {
  inviteUser(input: {email: $email, name: "Dana Demo", role: MEMBER}) {
    user { id status } errors { code message }
  }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code } }
}"""
NEW_PASSWORD = "correct horse battery staple"


def invitation_link(server: LiveServer, owner_token: str, address: str) -> str:
    """Invites ``address`` as Acme's owner; the link in the email the server then writes."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        body = client.post(
            "/graphql",
            json={"query": INVITE, "variables": {"email": address}},
            headers={"Authorization": f"Bearer {owner_token}"},
        ).json()
    assert body["data"]["inviteUser"]["errors"] == [], body
    outbox = server.log_path.parent / "outbox"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml")) if outbox.is_dir() else []:
            message = email.message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == address:
                text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                (link,) = re.findall(r"http://\S+/activate#token=[A-Za-z0-9_-]+", text)
                return link
        time.sleep(0.2)
    raise AssertionError(f"no invitation email to {address} in {outbox}")


def sign_in(server: LiveServer, address: str, password: str) -> list[str]:
    """The error codes of a login (none when it worked)."""
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        body = client.post(
            "/graphql", json={"query": LOGIN, "variables": {"email": address, "password": password}}
        ).json()
    login = body["data"]["login"]
    return [] if login["accessToken"] else [e["code"] for e in login["errors"]]


def set_password(page: Page, password: str, repeat: str | None = None) -> None:
    page.get_by_label("New password").fill(password)
    page.get_by_label("Repeat the password").fill(password if repeat is None else repeat)
    page.get_by_role("button", name="Activate my account").click()


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


def test_the_front_page_says_what_this_is_and_where_things_are(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given a phone-sized browser
    page = offline_page.page
    page.set_viewport_size(PHONE)
    # when it opens the server's address
    response = page.goto(server.url + "/", wait_until="load")
    # then the front page names the product, links GraphiQL and health, and lists the demo users
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("heading", level=1)).to_have_text("channelbill")
    expect(page.get_by_role("link", name="GraphiQL").first).to_have_attribute("href", "/graphql")
    expect(page.get_by_role("link", name="/healthz")).to_be_visible()
    expect(page.get_by_role("heading", name="Demo sign-ins")).to_be_visible()
    expect(page.get_by_role("cell", name="owner@acme.example")).to_be_visible()
    expect(page.get_by_text("channelbill-demo").first).to_be_visible()
    # and nothing is wider than the phone
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the page is {width} px wide"
    shoot(page, "front-phone")
    assert_stayed_offline(offline_page)


def test_an_invitation_link_sets_the_password_and_then_sign_in_works(
    server: LiveServer, owner_token: str, offline_page: OfflinePage
) -> None:
    # given the link of a real invitation email, opened in a phone-sized browser
    address = "dana.pages@acme.example"
    link = invitation_link(server, owner_token, address)
    page = offline_page.page
    page.set_viewport_size(PHONE)
    response = page.goto(link, wait_until="load")
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"
    expect(page.get_by_role("heading", level=1)).to_have_text("Activate your account")
    # then the token has left the address bar
    assert "token" not in page.url
    shoot(page, "activate-form")

    # when a password the policy refuses is sent
    set_password(page, "too short")
    # then the page shows the policy's words, and the account is still waiting
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("at least 12 characters", timeout=PAGE_TIMEOUT_MS)
    shoot(page, "activate-weak-password")
    assert sign_in(server, address, "too short") != []

    # when two different passwords are typed
    set_password(page, NEW_PASSWORD, "something else entirely")
    expect(page.get_by_role("alert")).to_contain_text("differ")

    # when a good password is set
    set_password(page, NEW_PASSWORD)
    # then the page says the account is active, and links GraphiQL
    done = page.get_by_role("heading", name="Your account is active")
    expect(done).to_be_visible(timeout=PAGE_TIMEOUT_MS)
    expect(page.locator("#done")).to_contain_text(address)
    expect(page.locator("#done").get_by_role("link", name="GraphiQL")).to_have_attribute(
        "href", "/graphql"
    )
    shoot(page, "activate-done")
    # and sign-in works with the new password
    assert sign_in(server, address, NEW_PASSWORD) == []

    # when the same link is opened again (from another page, as a click in the email would)
    page.goto(server.url + "/", wait_until="load")
    page.goto(link, wait_until="load")
    set_password(page, "another long passphrase")
    # then the page says the link is used up, and the password stays the first one
    expect(page.get_by_role("alert")).to_contain_text("used", timeout=PAGE_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Activate my account")).to_be_hidden()
    shoot(page, "activate-used-link")
    assert sign_in(server, address, NEW_PASSWORD) == []
    assert_stayed_offline(offline_page)


def test_the_activation_page_without_a_token_says_where_to_start(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # when the activation page is opened without an invitation's token
    page = offline_page.page
    page.goto(server.url + "/activate", wait_until="load")
    # then it says so, and offers no form
    expect(page.get_by_role("alert")).to_contain_text("invitation email")
    expect(page.get_by_role("button", name="Activate my account")).to_be_hidden()
    assert_stayed_offline(offline_page)


def test_only_the_pages_files_are_served(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        assert client.get("/pages/activate.js").status_code == 200
        assert client.get("/pages/index.html").status_code == 404
        assert client.get("/pages/..%2Fsettings.py").status_code == 404
