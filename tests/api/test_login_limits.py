"""Sign-in guessing backs off: per account and address, per account, per address; each aliased
login counts; the password is not even checked while backing off; a lockout is logged and
audited; and waiting it out lets the right password in (no permanent lock)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from sqlalchemy.engine import make_url

from auth import sessions
from tests.api.conftest import FrozenClock
from tests.conftest import Api
from tests.factories import PASSWORD, World

pytestmark = pytest.mark.usefixtures("clock")

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    accessToken retryAfterSeconds errors { code message }
  }
}"""
ADDRESS_EVENTS = """{ auditEvents(first: 50, action: "address.locked_out") {
  edges { node { action objectType details } } } }"""
EVENTS = """{ auditEvents(first: 50, action: "session.locked_out") {
  edges { node { action objectType objectId details } } } }"""
OWNER = "owner@alpha.example"


def aliased(count: int) -> str:
    fields = " ".join(
        f'a{n}: login(input: {{email: $email{n}, password: "wrong password!"}})'
        " { accessToken errors { code } }"
        for n in range(count)
    )
    variables = ", ".join(f"$email{n}: String!" for n in range(count))
    return f"mutation({variables}) {{ {fields} }}"


@pytest.fixture
async def from_address(app) -> AsyncIterator[Callable[[str], Api]]:
    """An Api whose requests come from the given client address."""
    clients: list[httpx.AsyncClient] = []

    def make(address: str) -> Api:
        transport = httpx.ASGITransport(app=app, client=(address, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return Api(clients[-1])

    yield make
    for client in clients:
        await client.aclose()


WRONG = "wrong password!"


async def login(api: Api, email: str = OWNER, password: str = WRONG) -> dict:
    body = await api(LOGIN, {"email": email, "password": password})
    return body["data"]["login"]


async def test_failures_back_off_and_the_right_password_waits_too(
    from_address, world: World, clock: FrozenClock
):
    # given five failed sign-ins at one account from one address
    api = from_address("203.0.113.5")
    for _ in range(5):
        assert (await login(api))["errors"][0]["code"] == "INVALID_CREDENTIALS"
    # when even the right password is tried at once
    refused = await login(api, password=PASSWORD)
    # then it is refused unchecked, saying how long to wait
    assert refused["accessToken"] is None
    assert refused["errors"] == [
        {"code": "RATE_LIMITED", "message": "too many attempts: try again in 1 second"}
    ]
    assert refused["retryAfterSeconds"] == 1
    # and once the wait is over it works: a back-off, not a lock
    clock.advance(1.0)
    signed_in = await login(api, password=PASSWORD)
    assert signed_in["errors"] == [] and signed_in["accessToken"]
    # and success forgives: the account starts over
    assert (await login(api))["errors"][0]["code"] == "INVALID_CREDENTIALS"


async def test_each_aliased_login_counts(from_address, world: World):
    # when one request guesses 15 times through aliases
    api = from_address("203.0.113.6")
    body = await api(aliased(15), {f"email{n}": OWNER for n in range(15)})
    # then five guesses were checked and the other ten refused
    codes = [body["data"][f"a{n}"]["errors"][0]["code"] for n in range(15)]
    assert codes.count("INVALID_CREDENTIALS") == 5
    assert codes.count("RATE_LIMITED") == 10


async def test_another_address_still_signs_in(from_address, world: World):
    # given an attacker backed off on the owner's account
    attacker = from_address("198.51.100.7")
    for _ in range(6):
        await login(attacker)
    assert (await login(attacker))["errors"][0]["code"] == "RATE_LIMITED"
    # when the owner signs in from their own address
    owner = await login(from_address("192.0.2.10"), password=PASSWORD)
    # then they get in
    assert owner["errors"] == [] and owner["accessToken"]


async def test_guesses_spread_over_addresses_back_off_per_account(from_address, world: World):
    # given 20 failures at one account, each from another address
    for n in range(20):
        assert (await login(from_address(f"10.0.1.{n}")))["errors"][0]["code"] == (
            "INVALID_CREDENTIALS"
        )
    # when a 21st address tries
    refused = await login(from_address("10.0.2.1"))
    # then the account is backing off
    assert refused["errors"][0]["code"] == "RATE_LIMITED"


async def test_a_spray_over_many_accounts_backs_off_per_address(from_address, world: World):
    # given 50 failures from one address, each at another (unknown) account
    api = from_address("198.51.100.99")
    for batch in range(4):
        emails = {f"email{n}": f"nobody{batch * 15 + n}@alpha.example" for n in range(15)}
        await api(aliased(15), emails)
    # when that address tries a real account, with its right password
    refused = await login(api, password=PASSWORD)
    # then it is refused; another address is not
    assert refused["errors"][0]["code"] == "RATE_LIMITED"
    assert (await login(from_address("192.0.2.11"), password=PASSWORD))["errors"] == []
    # and the address's lockout is in the platform's audit log, in no reseller's
    platform = await from_address("192.0.2.12")(ADDRESS_EVENTS, token=world.token("platform"))
    [event] = [edge["node"] for edge in platform["data"]["auditEvents"]["edges"]]
    assert event["details"]["address"] == "198.51.100.99"
    for tenant in (world.a, world.b):
        theirs = await api(ADDRESS_EVENTS, token=world.token("owner", tenant))
        assert theirs["data"]["auditEvents"]["edges"] == []


async def test_a_lockout_is_logged_and_audited_in_the_accounts_tenant(
    from_address, api, world: World, caplog
):
    # when an account locks out
    caplog.set_level(logging.WARNING, logger="channelbill.limits")
    attacker = from_address("198.51.100.8")
    for _ in range(5):
        await login(attacker)
    # then the log says so, naming the address
    assert any(
        "pair limit" in r.getMessage() and "198.51.100.8" in r.getMessage() for r in caplog.records
    )
    # and the owner's reseller audit log has it; the other reseller's has nothing
    logged = await api(EVENTS, token=world.token("owner", world.a))
    nodes = [edge["node"] for edge in logged["data"]["auditEvents"]["edges"]]
    assert [(n["action"], n["objectType"]) for n in nodes] == [("session.locked_out", "User")]
    assert nodes[0]["details"]["address"] == "198.51.100.8"
    assert nodes[0]["details"]["limit"] == "pair"
    other = await api(EVENTS, token=world.token("owner", world.b))
    assert other["data"]["auditEvents"]["edges"] == []


async def test_the_password_is_checked_without_holding_a_write_lock(
    api: Api, world: World, settings, backend, monkeypatch
):
    """Argon2 takes tens of ms: on SQLite a login holding the database's write lock meanwhile
    made every other writer wait (others' latency x40 under a flood of sign-ins)."""
    if backend != "sqlite":
        pytest.skip("PostgreSQL locks rows, not the database")
    path = make_url(settings.database_url).database
    real = sessions.verify_password_off_loop
    writable: list[bool] = []

    async def verify_while_writing(password_hash, password):
        with sqlite3.connect(path, timeout=0.2, isolation_level=None) as other:
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                writable.append(True)
            except sqlite3.OperationalError:
                writable.append(False)
        return await real(password_hash, password)

    monkeypatch.setattr(sessions, "verify_password_off_loop", verify_while_writing)
    # when a user signs in
    signed_in = await login(api, password=PASSWORD)
    # then another writer could write while the password was being checked
    assert signed_in["errors"] == []
    assert writable == [True]
