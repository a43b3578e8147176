"""Invitations: inviteUser and createReseller queue an activation email; activateUser spends the
link; INVITED and DISABLED users cannot sign in; resendInvitation; disableUser and enableUser."""

import email
import re
from datetime import timedelta
from email import policy

from sqlalchemy import select, update

from auth.models import ActivationToken
from core.clock import utcnow
from db.scope import TenantScope
from notifications.models import OutboxMessage
from schema.relay import to_global_id
from tenants.audit import AuditEvent
from tests.conftest import error_codes
from tests.factories import PASSWORD, World

INVITE = """mutation($input: InviteUserInput!) {
  inviteUser(input: $input) { user { id email role status billingAccess } errors { code field } }
}"""
ACTIVATE = """mutation($token: String!, $password: String!) {
  activateUser(input: {token: $token, password: $password}) {
    user { email status } errors { code field message }
  }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken errors { code message } }
}"""
RESEND = """mutation($id: ID!) {
  resendInvitation(input: {userId: $id}) { user { status } errors { code } }
}"""
DISABLE = """mutation($id: ID!) {
  disableUser(input: {userId: $id}) { user { status } errors { code field } }
}"""
ENABLE = """mutation($id: ID!) { enableUser(input: {userId: $id}) { user { status } errors { code } } }"""
CREATE_RESELLER = """mutation($input: CreateResellerInput!) {
  createReseller(input: $input) { reseller { id } owner { id status } errors { code field } }
}"""
NEW_PASSWORD = "a long and private passphrase"


async def outbox(db) -> list[OutboxMessage]:
    async with db.read(TenantScope.system()) as session:
        return list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all())


async def audit(db) -> list[str]:
    async with db.read(TenantScope.system()) as session:
        rows = await session.scalars(select(AuditEvent).order_by(AuditEvent.id))
        return [row.action for row in rows]


def activation_token(message: OutboxMessage) -> str:
    parsed = email.message_from_bytes(message.message, policy=policy.default)
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    (token,) = set(re.findall(r"/activate#token=([A-Za-z0-9_-]+)", text))
    assert f"token={token}" in html
    return token


async def invite(api, world: World, address="newbie@alpha.example", role="MEMBER"):
    body = await api(
        INVITE,
        {"input": {"email": address, "name": "New Bie", "role": role}},
        token=world.token("manager", world.a),
    )
    return body["data"]["inviteUser"]


async def test_invite_activate_then_sign_in(api, db, world: World):
    # given an ADMIN invites someone
    invited = await invite(api, world, "  NewBie@Alpha.example ")
    assert invited["errors"] == []
    assert invited["user"]["status"] == "INVITED"
    assert invited["user"]["email"] == "newbie@alpha.example"
    # then the invitation is in the outbox, to them, with a one-time link
    (message,) = await outbox(db)
    assert message.recipient == "newbie@alpha.example"
    assert message.event == "INVITATION"
    assert message.reseller_id == world.a.id
    assert "Alpha Reseller" in message.subject
    token = activation_token(message)
    # and they cannot sign in yet, with the same answer as a wrong password
    refused = await api(LOGIN, {"email": "newbie@alpha.example", "password": NEW_PASSWORD})
    assert refused["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"

    # when they open the link and set a password
    body = await api(ACTIVATE, {"token": token, "password": NEW_PASSWORD})
    # then they are ACTIVE and can sign in
    assert body["data"]["activateUser"] == {
        "user": {"email": "newbie@alpha.example", "status": "ACTIVE"},
        "errors": [],
    }
    login = await api(LOGIN, {"email": "newbie@alpha.example", "password": NEW_PASSWORD})
    assert login["data"]["login"]["errors"] == []
    assert login["data"]["login"]["accessToken"]
    # and the link works once
    again = await api(ACTIVATE, {"token": token, "password": "another long passphrase"})
    assert again["data"]["activateUser"]["errors"][0]["code"] == "INVALID_TOKEN"
    assert await audit(db) == ["user.invited", "user.activated"]


async def test_weak_passwords_are_refused_and_leave_the_link_usable(api, db, world: World):
    await invite(api, world)
    token = activation_token((await outbox(db))[0])
    for weak in ("short", "newbie@alpha.example", "NEWBIE", "x" * 1025):
        body = await api(ACTIVATE, {"token": token, "password": weak})
        assert body["data"]["activateUser"]["user"] is None
        (error,) = body["data"]["activateUser"]["errors"]
        assert (error["code"], error["field"]) == ("WEAK_PASSWORD", "password"), weak
    good = await api(ACTIVATE, {"token": token, "password": NEW_PASSWORD})
    assert good["data"]["activateUser"]["errors"] == []


async def test_an_expired_link_is_refused(api, db, world: World):
    await invite(api, world)
    token = activation_token((await outbox(db))[0])
    async with db.write(TenantScope.system()) as session:
        await session.execute(
            update(ActivationToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    body = await api(ACTIVATE, {"token": token, "password": NEW_PASSWORD})
    assert body["data"]["activateUser"]["errors"][0]["code"] == "INVALID_TOKEN"


async def test_resending_replaces_the_link(api, db, world: World):
    invited = await invite(api, world)
    first = activation_token((await outbox(db))[0])
    body = await api(RESEND, {"id": invited["user"]["id"]}, token=world.token("owner", world.a))
    assert body["data"]["resendInvitation"]["errors"] == []
    messages = await outbox(db)
    assert len(messages) == 2
    second = activation_token(messages[1])
    assert second != first
    stale = await api(ACTIVATE, {"token": first, "password": NEW_PASSWORD})
    assert stale["data"]["activateUser"]["errors"][0]["code"] == "INVALID_TOKEN"
    fresh = await api(ACTIVATE, {"token": second, "password": NEW_PASSWORD})
    assert fresh["data"]["activateUser"]["errors"] == []
    # an ACTIVE user gets no invitation
    body = await api(RESEND, {"id": invited["user"]["id"]}, token=world.token("owner", world.a))
    assert body["data"]["resendInvitation"]["errors"][0]["code"] == "NOT_INVITED"


async def test_bad_invitations_change_nothing(api, db, world: World):
    cases = [
        ({"email": "member@alpha.example", "name": "X", "role": "MEMBER"}, "TAKEN"),
        ({"email": "not an email", "name": "X", "role": "MEMBER"}, "BAD_USER_INPUT"),
        ({"email": "ok@alpha.example", "name": " ", "role": "MEMBER"}, "BAD_USER_INPUT"),
        ({"email": "ok@alpha.example", "name": "X", "role": "OWNER"}, "BAD_USER_INPUT"),
    ]
    for data, code in cases:
        body = await api(INVITE, {"input": data}, token=world.token("owner", world.a))
        assert body["data"]["inviteUser"]["user"] is None
        assert body["data"]["inviteUser"]["errors"][0]["code"] == code, data
    assert await outbox(db) == []
    assert await audit(db) == []


async def test_inviting_tells_nothing_of_addresses_outside_the_reseller(api, db, world: World):
    """An address used at another reseller, or by a platform admin, is not TAKEN here: the
    answer must not tell whether it exists elsewhere. Each reseller's user is its own."""
    for address in ("owner@bravo.example", "admin@platform.example", "nobody@nowhere.example"):
        body = await api(
            INVITE,
            {"input": {"email": address, "name": "Someone", "role": "MEMBER"}},
            token=world.token("owner", world.a),
        )
        assert body["data"]["inviteUser"]["errors"] == [], address
        assert body["data"]["inviteUser"]["user"]["email"] == address
    assert len(await outbox(db)) == 3


async def test_create_reseller_invites_its_owner(api, db, world: World):
    body = await api(
        CREATE_RESELLER,
        {
            "input": {
                "name": "Initech Cloud",
                "currency": "USD",
                "owner": {"email": "bill@initech.example", "name": "Bill"},
            }
        },
        token=world.token("platform"),
    )
    payload = body["data"]["createReseller"]
    assert payload["errors"] == []
    assert payload["owner"]["status"] == "INVITED"
    (message,) = await outbox(db)
    assert message.recipient == "bill@initech.example"
    assert "Initech Cloud" in message.subject
    token = activation_token(message)
    done = await api(ACTIVATE, {"token": token, "password": NEW_PASSWORD})
    assert done["data"]["activateUser"]["errors"] == []
    login = await api(LOGIN, {"email": "bill@initech.example", "password": NEW_PASSWORD})
    assert login["data"]["login"]["errors"] == []
    assert await audit(db) == ["reseller.created", "user.invited", "user.activated"]


async def test_disabling_locks_out_at_once(api, db, world: World):
    # given the member is signed in
    login = await api(LOGIN, {"email": "member@alpha.example", "password": PASSWORD})
    access = login["data"]["login"]["accessToken"]
    assert "errors" not in await api("{ viewer { kind } }", token=access)
    member = to_global_id("User", world.a.users["member"])
    # when an ADMIN disables them
    body = await api(DISABLE, {"id": member}, token=world.token("manager", world.a))
    assert body["data"]["disableUser"] == {"user": {"status": "DISABLED"}, "errors": []}
    # then their very next request is refused, and they cannot sign in again
    response = await api.raw("{ viewer { kind } }", token=access)
    assert response.status_code == 401
    again = await api(LOGIN, {"email": "member@alpha.example", "password": PASSWORD})
    assert again["data"]["login"]["errors"][0]["code"] == "INVALID_CREDENTIALS"
    # and enabling them lets them back in
    body = await api(ENABLE, {"id": member}, token=world.token("manager", world.a))
    assert body["data"]["enableUser"]["user"]["status"] == "ACTIVE"
    back = await api(LOGIN, {"email": "member@alpha.example", "password": PASSWORD})
    assert back["data"]["login"]["errors"] == []
    assert await audit(db) == ["user.disabled", "user.enabled"]


async def test_the_owner_and_yourself_cannot_be_disabled(api, world: World):
    owner = to_global_id("User", world.a.users["owner"])
    manager = to_global_id("User", world.a.users["manager"])
    body = await api(DISABLE, {"id": owner}, token=world.token("manager", world.a))
    assert body["data"]["disableUser"]["errors"][0]["code"] == "OWNER_CANNOT_BE_DISABLED"
    body = await api(DISABLE, {"id": manager}, token=world.token("manager", world.a))
    assert body["data"]["disableUser"]["errors"][0]["code"] == "CANNOT_DISABLE_SELF"


async def test_a_disabled_users_refresh_tokens_die(api, world: World):
    login = await api(
        """mutation($password: String!) {
             login(input: {email: "member@alpha.example", password: $password}) {
               refreshToken } }""",
        {"password": PASSWORD},
    )
    refresh = login["data"]["login"]["refreshToken"]
    member = to_global_id("User", world.a.users["member"])
    await api(DISABLE, {"id": member}, token=world.token("owner", world.a))
    await api(ENABLE, {"id": member}, token=world.token("owner", world.a))
    body = await api(
        """mutation($t: String!) { refreshToken(input: {refreshToken: $t}) {
             accessToken errors { code } } }""",
        {"t": refresh},
    )
    assert body["data"]["refreshToken"]["accessToken"] is None
    assert error_codes(body) == []
