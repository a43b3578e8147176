"""GraphiQL, served by the server itself, works in a real browser with no network at all."""

from __future__ import annotations

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.conftest import ARTIFACTS, PAGE_TIMEOUT_MS, LiveServer, OfflinePage

pytestmark = pytest.mark.browser

VIEWER_QUERY = "{ viewer { kind user { email role } reseller { name } } }"


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
