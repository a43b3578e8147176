"""Every example in README.md runs as written against the demo data.

Each ```graphql block is split into its operations, which run in README order, signed in as
owner@acme.example unless the block (or the comment right before an operation) says
``# as <email>`` (a demo user). Placeholders in quotes, ``"<Customer id>"``, are replaced with real
ids of the demo (PLACEHOLDERS says which); an unknown one fails the test, so a new example names
what it needs here. An operation fails on any GraphQL error and on any non-empty ``errors`` list in
its payload, unless a comment says ``# expect CODE``. In ```sh blocks every ``curl`` command runs
against the app too, with ``$TOKEN`` (the signed-in user's access token), ``$CLIENT_ID`` and
``$CLIENT_SECRET`` (the last API client made) and ``"<downloadUrl>"`` (the last download link seen).
"""

from __future__ import annotations

import email
import re
import shlex
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from email import policy
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from graphql import FragmentDefinitionNode, OperationDefinitionNode, parse
from sqlalchemy import select

from db.database import Database
from db.scope import TenantScope
from notifications.models import NotificationEvent, OutboxMessage
from server.demo import logo_png, seed_demo
from server.settings import Settings
from tests.conftest import Api

README = Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_USER = "owner@acme.example"
DEMO_PASSWORD = "channelbill-demo"
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
AS = re.compile(r"#\s*as\s+(\S+@\S+)")
EXPECT = re.compile(r"#\s*expect\s+([A-Z][A-Z_]+)")
PLACEHOLDER = re.compile(r'"<([^"<>]+)>"')
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code message } }
}"""
LOOKUP = """{
  customers(first: 100) { edges { node { id name } } }
  products(first: 100) { edges { node { id sku } } }
  users(first: 100) { edges { node { id email } } }
  invoices(first: 100, filter: { status: [DRAFT] }) {
    edges { node { id customer { name } vendor { name } } }
  }
}"""


@dataclass(frozen=True)
class Example:
    """One operation or command of the README, and where it is."""

    kind: str  # "graphql" or "curl"
    text: str
    line: int
    user: str = DEFAULT_USER
    expect: frozenset[str] = frozenset()

    def __str__(self) -> str:
        return f"README.md line {self.line}: {self.text.strip()[:160]}"


def _directives(comments: str) -> tuple[str | None, set[str]]:
    found = AS.search(comments)
    return (found.group(1) if found else None), set(EXPECT.findall(comments))


def extract(markdown: str) -> Iterator[Example]:
    """The runnable examples of a Markdown text, in order."""
    for fence in FENCE.finditer(markdown):
        language, body = fence.group(1), fence.group(2)
        first_line = markdown.count("\n", 0, fence.start(2)) + 1
        if language == "graphql":
            yield from _operations(body, first_line)
        elif language in ("sh", "bash", "shell"):
            yield from _curls(body, first_line)


def _operations(body: str, first_line: int) -> Iterator[Example]:
    """Each operation of a block, with the block's fragments; a block of schema (SDL) only
    documents types and runs nothing."""
    definitions = parse(body).definitions
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    fragments = "".join(
        "\n" + body[d.loc.start : d.loc.end]
        for d in definitions
        if isinstance(d, FragmentDefinitionNode) and d.loc is not None
    )
    # comments before the first operation are the whole block's; comments right before a later
    # operation, or inside one, are that operation's own
    head = operations[0].loc.start if operations and operations[0].loc else 0
    block_user, block_expect = _directives(body[:head])
    previous_end = 0
    for definition in operations:
        assert definition.loc is not None
        start, end = definition.loc.start, definition.loc.end
        user, expect = _directives(body[previous_end:start] + body[start:end])
        previous_end = end
        yield Example(
            "graphql",
            body[start:end] + fragments,
            first_line + body.count("\n", 0, start),
            user or block_user or DEFAULT_USER,
            frozenset(expect or block_expect),
        )


def _curls(body: str, first_line: int) -> Iterator[Example]:
    offset = 0
    for raw in re.split(r"(?<!\\)\n", body):
        command = raw.replace("\\\n", " ").strip()
        if command.startswith("curl "):
            user, expect = _directives(command)
            yield Example(
                "curl",
                command,
                first_line + body.count("\n", 0, offset),
                user or DEFAULT_USER,
                frozenset(expect),
            )
        offset += len(raw) + 1


@dataclass
class Runner:
    """Runs examples in order, remembering what later ones refer to."""

    api: Api
    client: httpx.AsyncClient
    db: Database
    workdir: Path
    tokens: dict[str, str] = field(default_factory=dict)
    resolved: dict[str, str] = field(default_factory=dict)
    seen: dict[str, str] = field(default_factory=dict)  # leaf fields of earlier answers
    demo: dict[str, Any] = field(default_factory=dict)

    async def token(self, user: str) -> str:
        if user not in self.tokens:
            body = await self.api(LOGIN, {"email": user, "password": DEMO_PASSWORD})
            assert body["data"]["login"]["errors"] == [], f"cannot sign in as {user}: {body}"
            self.tokens[user] = body["data"]["login"]["accessToken"]
        return self.tokens[user]

    async def lookup(self) -> dict[str, Any]:
        """The demo's ids, as the README's default user sees them."""
        if not self.demo:
            body = await self.api(LOOKUP, token=await self.token(DEFAULT_USER))
            assert "errors" not in body, body
            self.demo = {
                name: [edge["node"] for edge in connection["edges"]]
                for name, connection in body["data"].items()
            }
        return self.demo

    async def _customer(self) -> str:
        # the customer the README's `customers(search: "north")` example finds
        return next(
            c["id"] for c in (await self.lookup())["customers"] if c["name"] == "Northwind Traders"
        )

    async def _product(self, sku: str) -> str:
        return next(p["id"] for p in (await self.lookup())["products"] if p["sku"] == sku)

    async def _user(self) -> str:
        users = (await self.lookup())["users"]
        return next(u["id"] for u in users if u["email"] == "member@acme.example")

    async def _draft(self) -> str:
        drafts = (await self.lookup())["invoices"]
        return next(
            i["id"]
            for i in drafts
            if i["customer"]["name"] == "Tailspin Toys" and i["vendor"]["name"] == "AWS"
        )

    async def _platform_invoice(self) -> str:
        """An OPEN invoice of the platform to Globex (its autopay failed in the demo)."""
        body = await self.api(
            "{ invoices(filter: { billTo: RESELLER, status: [OPEN] }) { edges { node { id } } } }",
            token=await self.token("owner@globex.example"),
        )
        return str(body["data"]["invoices"]["edges"][0]["node"]["id"])

    async def _open_invoice(self) -> str:
        """Contoso's OPEN Microsoft invoice from Acme."""
        body = await self.api(
            "{ invoices(filter: { status: [OPEN] }) { edges { node { id customer { name }"
            " vendor { name } } } } }",
            token=await self.token(DEFAULT_USER),
        )
        return next(
            e["node"]["id"]
            for e in body["data"]["invoices"]["edges"]
            if e["node"]["customer"]["name"] == "Contoso Pharmaceuticals"
            and e["node"]["vendor"]["name"] == "Microsoft"
        )

    async def _invitation_token(self) -> str:
        """The token in the link of the latest invitation email (the one just sent)."""
        async with self.db.read(TenantScope.system()) as session:
            message = await session.scalar(
                select(OutboxMessage)
                .where(OutboxMessage.event == str(NotificationEvent.INVITATION))
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            )
        assert message is not None, "no invitation email to take the link from"
        parsed = email.message_from_bytes(message.message, policy=policy.default)
        text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        (token,) = set(re.findall(r"/activate[?#]token=([A-Za-z0-9_-]+)", text))
        return token

    async def _download_url(self) -> str:
        urls = [v for k, v in self.seen.items() if "/documents/" in v]
        assert urls, "no downloadUrl asked for before"
        return self.seen["pdf"] if "pdf" in self.seen else urls[-1]

    def placeholders(self) -> dict[str, Callable[[], Awaitable[str]]]:
        """What each placeholder of the README stands for in the demo data; the ones marked
        fresh are read again at every use (they name the latest of something)."""
        return {
            "Customer id": self._customer,
            "Product id": lambda: self._product("MS-M365-BP"),
            "Usage product id": lambda: self._product("MS-AZURE-CU"),
            "User id": self._user,
            "Invoice id": self._draft,
            "Platform invoice id": self._platform_invoice,
            "Open invoice id": self._open_invoice,
            "from the link": self._invitation_token,
            "downloadUrl": self._download_url,
        }

    async def substitute(self, text: str) -> str:
        known = self.placeholders()
        for name in dict.fromkeys(PLACEHOLDER.findall(text)):
            if name not in known:
                raise AssertionError(
                    f'unknown placeholder "<{name}>": say in PLACEHOLDERS what it stands for'
                )
            fresh = name in ("from the link", "downloadUrl")
            if fresh or name not in self.resolved:
                self.resolved[name] = await known[name]()
            text = text.replace(f'"<{name}>"', f'"{self.resolved[name]}"')
        return text

    def remember(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(item, str):
                    self.seen[key] = item
                else:
                    self.remember(item)
        elif isinstance(value, list):
            for item in value:
                self.remember(item)

    async def run(self, example: Example) -> list[str]:
        """What went wrong (nothing when the example ran as the README says)."""
        if example.kind == "graphql":
            body = await self.api(
                await self.substitute(example.text), token=await self.token(example.user)
            )
            self.remember(body.get("data"))
            return problems_of(body, example.expect)
        return await self.curl(example)

    async def curl(self, example: Example) -> list[str]:
        variables = {
            "TOKEN": await self.token(example.user),
            "CLIENT_ID": self.seen.get("clientId", ""),
            "CLIENT_SECRET": self.seen.get("clientSecret", ""),
        }
        text = await self.substitute(example.text)
        text = re.sub(r"\$(\w+)", lambda m: variables.get(m.group(1), m.group(0)), text)
        args = shlex.split(text, comments=True)[1:]
        request: dict[str, Any] = {"headers": {}}
        data: list[str] = []
        files: dict[str, Any] = {}
        form: dict[str, str] = {}
        url = ""
        saves_as_named = "-OJ" in args or "-J" in args
        while args:
            arg = args.pop(0)
            if arg in ("-s", "-OJ", "-O", "-J", "-sS"):
                continue
            if arg == "-u":
                user, _, password = args.pop(0).partition(":")
                request["auth"] = (user, password)
            elif arg == "-d":
                data.append(args.pop(0))
            elif arg == "-H":
                name, _, value = args.pop(0).partition(":")
                request["headers"][name.strip()] = value.strip()
            elif arg == "-F":
                name, _, value = args.pop(0).partition("=")
                if value.startswith("@"):
                    files[name] = (value[1:], self.upload(value[1:]), "application/octet-stream")
                else:
                    form[name] = value
            elif arg.startswith("-"):
                return [f"the test does not know curl's {arg}: teach Runner.curl"]
            else:
                url = arg
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if data:
            request["content"] = "&".join(data)
            request["headers"]["Content-Type"] = "application/x-www-form-urlencoded"
        if files or form:
            request["files"] = {**{k: (None, v) for k, v in form.items()}, **files}
        method = "POST" if data or files or form else "GET"
        response = await self.client.request(method, path, **request)
        if response.status_code != 200:
            return [f"{method} {parts.path} answered {response.status_code}: {response.text[:300]}"]
        if saves_as_named and "filename=" not in response.headers.get("content-disposition", ""):
            return [f"{method} {parts.path} names no file to save as"]
        if response.headers.get("content-type", "").startswith("application/json"):
            body = response.json()
            self.remember(body.get("data") if "data" in body else body)
            return problems_of(body, example.expect)
        return []

    def upload(self, name: str) -> bytes:
        """A file a curl example uploads: the README's logo.png is a logo like the demo's."""
        if name == "logo.png":
            return logo_png("Acme Cloud", (37, 99, 235))
        return (self.workdir / name).read_bytes()


def problems_of(body: dict[str, Any], expected: frozenset[str]) -> list[str]:
    codes: list[str] = [
        (e.get("extensions") or {}).get("code", "?") for e in body.get("errors") or []
    ]

    def payload_errors(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "errors" and isinstance(item, list):
                    yield from item
                else:
                    yield from payload_errors(item)
        elif isinstance(value, list):
            for item in value:
                yield from payload_errors(item)

    user_errors = list(payload_errors(body.get("data")))
    codes += [e.get("code", "?") for e in user_errors]
    if expected:
        missing = expected - set(codes)
        unexpected = set(codes) - expected
        if missing or unexpected:
            return [f"expected {sorted(expected)}, got {codes}: {body}"]
        return []
    return [f"errors {codes}: {body.get('errors') or user_errors}"] if codes else []


def test_extract_finds_operations_commands_and_directives():
    # given a Markdown text with a block of two operations, a directive, and a shell block
    markdown = (
        "text\n```graphql\nmutation { a }\n\n# as admin@example.com\n"
        '# expect FORBIDDEN\nquery { b(id: "<Customer id>") }\n```\n'
        "```sh\nexport X=1\ncurl -s \\\n  http://127.0.0.1:8000/healthz   # says ok\n```\n"
        "```sql\nSELECT 1;\n```\n"
        "```graphql\ntype Query { a: Int }\n```\n"
        "```graphql\nquery { ...F }\nfragment F on Query { a }\n```\n"
    )
    # when the examples are extracted
    found = list(extract(markdown))
    # then each operation runs on its own, the directive applies to the one after it, and
    # only curl commands of shell blocks run
    assert [e.kind for e in found] == ["graphql", "graphql", "curl", "graphql"]
    assert found[0].text == "mutation { a }"
    assert (found[0].user, found[0].expect) == (DEFAULT_USER, frozenset())
    assert (found[1].user, found[1].expect) == ("admin@example.com", frozenset({"FORBIDDEN"}))
    assert found[1].line == 7
    assert found[2].text.startswith("curl -s") and "healthz" in found[2].text
    # and a block of schema runs nothing, while an operation takes its block's fragments along
    assert found[3].text == "query { ...F }\nfragment F on Query { a }"


def test_the_readme_has_examples_to_run():
    examples = list(extract(README.read_text(encoding="utf-8")))
    assert sum(e.kind == "graphql" for e in examples) >= 20
    assert any("/oauth/token" in e.text for e in examples if e.kind == "curl")


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """As `scripts/serve` runs (development): webhook endpoints on loopback are allowed."""
    return settings.with_(webhooks_allow_private_targets=True)


@pytest.fixture
def runner(api: Api, client: httpx.AsyncClient, db: Database, tmp_path: Path) -> Runner:
    return Runner(api, client, db, tmp_path)


async def test_every_readme_example_runs_against_the_demo(runner: Runner, db, settings):
    # given the demo data, as `scripts/serve` loads it
    assert await seed_demo(db, settings)
    examples = list(extract(README.read_text(encoding="utf-8")))
    # when every example runs, in README order
    failures = []
    for example in examples:
        for problem in await runner.run(example):
            failures.append(f"{example}\n    -> {problem}")
    # then none fails, the shell ones included: the API client got its token
    assert failures == [], "\n\n".join(failures)
    assert runner.seen.get("token_type") == "Bearer"
