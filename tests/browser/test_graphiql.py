"""GraphiQL, served by the server itself, works in a real browser with no network at all."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
import pytest
from playwright.sync_api import Locator, Page, Request, expect

from auth.tokens import LEEWAY_SECONDS
from tests.browser.conftest import (
    ARTIFACTS,
    DEMO_PASSWORD,
    PAGE_TIMEOUT_MS,
    SHORT_ACCESS_TOKEN_TTL_S,
    LiveServer,
    OfflinePage,
)

pytestmark = pytest.mark.browser

VIEWER_QUERY = "{ viewer { kind user { email role } reseller { name } } }"
SIGNED_IN_QUERY = "{ viewer { kind user { email } } }"
SCREENSHOTS = ARTIFACTS / "graphiql"


class GraphiQL:
    """The GraphiQL page, driven the way a person would: clicks and keystrokes."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.query_editor = page.locator(".graphiql-query-editor .CodeMirror")
        self.headers_tab = page.locator(".graphiql-editor-tools").get_by_role(
            "button", name="Headers", exact=True
        )
        self.headers_editor = page.locator(
            'section.graphiql-editor-tool[aria-label="Headers"]'
            " .graphiql-editor:not(.hidden) .CodeMirror"
        )
        self.execute_button = page.locator("button.graphiql-execute-button")
        self.result = page.locator(".graphiql-response .result-window")
        self.bar = page.get_by_role("banner", name="Sign in")
        self.signed_in_as = page.locator("#signed-in-as")
        self.message = page.locator("#sign-in-message")

    def sign_in(self, email: str, password: str = DEMO_PASSWORD, reseller: str = "") -> None:
        self.bar.get_by_label("Email").fill(email)
        self.bar.get_by_label("Password").fill(password)
        self.bar.get_by_label("Reseller slug").fill(reseller)
        self.bar.get_by_role("button", name="Sign in").click()
        expect(self.signed_in_as).to_contain_text(f"Signed in as {email}")

    def sign_out(self) -> None:
        self.bar.get_by_role("button", name="Sign out").click()
        expect(self.bar.get_by_role("button", name="Sign in")).to_be_visible()

    def open(self, server: LiveServer) -> None:
        response = self.page.goto(f"{server.url}/graphql", wait_until="load")
        assert response is not None and response.ok
        assert response.headers["content-type"].startswith("text/html")
        expect(self.query_editor).to_be_visible()
        expect(self.execute_button).to_be_visible()

    def type_headers(self, text: str) -> str:
        """Types into the Headers editor; returns what the editor then holds."""
        self.headers_tab.click()
        expect(self.headers_editor).to_be_visible()
        typed = self._replace_text(self.headers_editor, text)
        self.page.keyboard.press("Home")  # so a screenshot shows the header's name
        return typed

    def type_query(self, text: str) -> str:
        """Replaces the query (select-all, then type); returns what the editor then holds."""
        return self._replace_text(self.query_editor, text)

    def run(self) -> None:
        # The page opens on a document with two operations, where the run button is a menu to
        # pick one; GraphiQL re-reads the document 100 ms after the last keystroke, so wait until
        # the button runs the single typed query instead of opening that menu.
        expect(self.execute_button).not_to_have_attribute("aria-haspopup", "menu")
        self.execute_button.click()

    def _replace_text(self, editor: Locator, text: str) -> str:
        editor.click()
        self.page.keyboard.press("ControlOrMeta+A")
        self.page.keyboard.type(text)
        value: str = editor.evaluate("element => element.CodeMirror.getValue()")
        return value


def assert_stayed_offline(browsing: OfflinePage) -> None:
    assert browsing.offsite_requests == [], "GraphiQL reached beyond 127.0.0.1"
    assert browsing.page_errors == []
    blocked_by_csp = [e for e in browsing.console_errors if "Content Security Policy" in e]
    assert blocked_by_csp == []


def test_signed_in_owner_runs_the_viewer_query(
    server: LiveServer, owner_token: str, offline_page: OfflinePage
) -> None:
    # given: GraphiQL open, with the owner's token typed into the Headers tab
    graphiql = GraphiQL(offline_page.page)
    graphiql.open(server)
    headers = f'{{"Authorization": "Bearer {owner_token}"}}'
    assert graphiql.type_headers(headers) == headers

    # when: the viewer query is typed in and run
    assert graphiql.type_query(VIEWER_QUERY) == VIEWER_QUERY
    graphiql.run()

    # then: the result shows the owner and their reseller, fetched from this server alone
    expect(graphiql.result).to_contain_text("owner@acme.example", timeout=PAGE_TIMEOUT_MS)
    expect(graphiql.result).to_contain_text("Acme Cloud")
    expect(graphiql.result).to_contain_text('"kind": "USER"')
    expect(graphiql.result).not_to_contain_text('"errors"')
    ARTIFACTS.mkdir(exist_ok=True)
    offline_page.page.screenshot(path=ARTIFACTS / "graphiql.png")
    assert_stayed_offline(offline_page)


def test_without_a_token_the_viewer_query_is_unauthenticated(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given: GraphiQL open, with nothing in the Headers tab
    graphiql = GraphiQL(offline_page.page)
    graphiql.open(server)

    # when: the viewer query is typed in and run
    assert graphiql.type_query(VIEWER_QUERY) == VIEWER_QUERY
    graphiql.run()

    # then: the result is an UNAUTHENTICATED error and no data
    expect(graphiql.result).to_contain_text("UNAUTHENTICATED", timeout=PAGE_TIMEOUT_MS)
    expect(graphiql.result).to_contain_text("authentication required")
    expect(graphiql.result).not_to_contain_text("owner@acme.example")
    assert_stayed_offline(offline_page)


@dataclass(frozen=True)
class Sent:
    """One request the page sent to /graphql: what it asked and the bearer token it carried."""

    body: str
    bearer: str | None


def record_graphql_requests(page: Page) -> list[Sent]:
    sent: list[Sent] = []

    def on_request(request: Request) -> None:
        if request.url.endswith("/graphql") and request.method == "POST":
            authorization = request.headers.get("authorization")
            bearer = authorization.removeprefix("Bearer ") if authorization else None
            sent.append(Sent(request.post_data or "", bearer))

    page.on("request", on_request)
    return sent


def bearers_of_viewer_queries(sent: list[Sent]) -> list[str | None]:
    return [s.bearer for s in sent if "viewer" in s.body and "__schema" not in s.body]


def answers_401(server: LiveServer, token: str) -> bool:
    with httpx.Client(base_url=server.url, timeout=10.0) as client:
        response = client.post(
            "/graphql",
            json={"query": SIGNED_IN_QUERY},
            headers={"Authorization": f"Bearer {token}"},
        )
    return response.status_code == 401


def test_signing_in_from_the_bar_survives_the_access_tokens_expiry(
    short_lived_tokens_server: LiveServer, offline_page: OfflinePage
) -> None:
    # given: GraphiQL on a server whose access tokens live a few seconds, signed in from the bar
    server = short_lived_tokens_server
    sent = record_graphql_requests(offline_page.page)
    graphiql = GraphiQL(offline_page.page)
    graphiql.open(server)
    graphiql.sign_in("owner@acme.example")
    expect(graphiql.signed_in_as).to_contain_text("Acme Cloud")
    assert graphiql.type_query(SIGNED_IN_QUERY) == SIGNED_IN_QUERY
    graphiql.run()
    expect(graphiql.result).to_contain_text("owner@acme.example")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    offline_page.page.screenshot(path=SCREENSHOTS / "1-signed-in.png")
    first_token = bearers_of_viewer_queries(sent)[-1]
    assert first_token is not None

    # when: the first access token has expired (and the server's leeway is over), and the query
    # runs again
    time.sleep(SHORT_ACCESS_TOKEN_TTL_S + LEEWAY_SECONDS + 1)
    assert answers_401(server, first_token)
    graphiql.type_query(SIGNED_IN_QUERY + " ")
    graphiql.run()

    # then: the page refreshed its token and the query still answers as the owner
    expect(graphiql.result).to_contain_text("owner@acme.example")
    expect(graphiql.result).not_to_contain_text("UNAUTHENTICATED")
    assert any("refreshToken(input:" in s.body and s.bearer is None for s in sent)
    assert bearers_of_viewer_queries(sent)[-1] not in (None, first_token)
    offline_page.page.screenshot(path=SCREENSHOTS / "2-after-refresh.png")

    # when: signed out, and the query runs again
    graphiql.sign_out()
    graphiql.type_query(SIGNED_IN_QUERY)
    graphiql.run()

    # then: the query is unauthenticated, and no request ever sent a token with the sign-in
    expect(graphiql.result).to_contain_text("UNAUTHENTICATED")
    expect(graphiql.result).not_to_contain_text("owner@acme.example")
    assert bearers_of_viewer_queries(sent)[-1] is None
    assert all(s.bearer is None for s in sent if "login(input:" in s.body)
    offline_page.page.screenshot(path=SCREENSHOTS / "3-signed-out.png")
    assert_stayed_offline(offline_page)


def test_a_stale_header_in_the_headers_tab_does_not_block_a_platform_admin_signing_in(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given: GraphiQL with a token in the Headers tab that the server refuses
    graphiql = GraphiQL(offline_page.page)
    graphiql.open(server)
    graphiql.type_headers('{"Authorization": "Bearer expired-or-pasted-wrong"}')
    assert graphiql.type_query(SIGNED_IN_QUERY) == SIGNED_IN_QUERY
    graphiql.run()
    expect(graphiql.result).to_contain_text("invalid or expired token")
    expect(graphiql.message).to_contain_text("Authorization header in the Headers tab was refused")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    offline_page.page.screenshot(path=SCREENSHOTS / "4-stale-header.png")

    # when: the platform admin signs in from the bar, the header still in the tab, and reruns
    graphiql.sign_in("admin@example.com")
    graphiql.type_query(SIGNED_IN_QUERY + " ")
    graphiql.run()

    # then: the bar's token replaced the stale one and the query answers as the admin
    expect(graphiql.signed_in_as).to_contain_text("platform admin")
    expect(graphiql.result).to_contain_text('"kind": "PLATFORM_ADMIN"')
    expect(graphiql.result).not_to_contain_text("invalid or expired token")
    expect(graphiql.message).to_contain_text("Authorization header is not sent while you are")
    offline_page.page.screenshot(path=SCREENSHOTS / "5-admin-over-stale-header.png")
    assert_stayed_offline(offline_page)


def test_a_refused_access_token_is_refreshed_and_the_query_retried(
    server: LiveServer, offline_page: OfflinePage
) -> None:
    # given: a signed-in page whose access token the server no longer accepts (kept in this tab's
    # session storage, which survives a reload)
    sent = record_graphql_requests(offline_page.page)
    graphiql = GraphiQL(offline_page.page)
    graphiql.open(server)
    graphiql.sign_in("owner@acme.example")
    offline_page.page.evaluate(
        """() => {
            const key = "channelbill.graphiql.session";
            const stored = JSON.parse(sessionStorage.getItem(key));
            sessionStorage.setItem(key, JSON.stringify({ ...stored, access: "revoked" }));
        }"""
    )
    graphiql.open(server)
    expect(graphiql.signed_in_as).to_contain_text("Signed in as owner@acme.example")

    # when: a query runs
    assert graphiql.type_query(SIGNED_IN_QUERY) == SIGNED_IN_QUERY
    graphiql.run()

    # then: the first request with the refused token (GraphiQL's schema fetch, on opening) made
    # the page refresh once and retry, and the query answers as the owner with the new token
    expect(graphiql.result).to_contain_text("owner@acme.example")
    refused = next(i for i, s in enumerate(sent) if s.bearer == "revoked")
    refreshes = [i for i, s in enumerate(sent) if "refreshToken(input:" in s.body]
    assert len(refreshes) == 1 and refreshes[0] > refused
    assert sent[refreshes[0] + 1].body == sent[refused].body  # the retry
    assert bearers_of_viewer_queries(sent)[-1] not in (None, "revoked")
    assert_stayed_offline(offline_page)
