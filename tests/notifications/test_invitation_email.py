"""End to end over HTTP and SMTP: an invitation is mailed by the server's own dispatcher to a real
SMTP server; the link in it activates the account; the new user signs in."""

from __future__ import annotations

import re

from db.database import Database
from notifications.models import DeliveryStatus
from tests.conftest import Api
from tests.factories import World
from tests.notifications import Outbox, SmtpServer, eventually

INVITE = """mutation($input: InviteUserInput!) {
  inviteUser(input: $input) { user { status } errors { code } }
}"""
ACTIVATE = """mutation($token: String!, $password: String!) {
  activateUser(input: {token: $token, password: $password}) { user { status } errors { code } }
}"""
LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) { accessToken user { email } errors { code } }
}"""
PASSWORD = "my own long passphrase"


async def test_invited_user_activates_from_the_email_and_signs_in(
    mailing_api: Api, smtp: SmtpServer, world: World, db: Database
):
    # given an OWNER invites someone
    body = await mailing_api(
        INVITE,
        {"input": {"email": "dana@alpha.example", "name": "Dana Scully", "role": "ADMIN"}},
        token=world.token("owner", world.a),
    )
    assert body["data"]["inviteUser"] == {"user": {"status": "INVITED"}, "errors": []}

    # when the email arrives
    async def arrived() -> bool:
        return len(smtp.inbox.messages()) == 1

    await eventually(arrived, within=10, what="the invitation email")
    (received,) = smtp.inbox.messages()
    message = received.message
    assert received.rcpt_tos == ["dana@alpha.example"]
    assert message["To"] == "dana@alpha.example"
    assert "Alpha Reseller" in message["Subject"]
    text = message.get_body(("plain",)).get_content()
    assert "owner@alpha.example invited you" in text
    (link,) = re.findall(r"https://panel\.alpha\.example/activate#token=\S+", text)
    token = link.rsplit("=", 1)[1]

    # and once sent, the outbox keeps the headers but not the link
    async def recorded_sent() -> bool:
        (row,) = (await Outbox(db).rows()).values()
        return row.status is DeliveryStatus.SENT

    await eventually(recorded_sent, within=10, what="SENT recorded")
    (row,) = (await Outbox(db).rows()).values()
    assert token.encode() not in row.message
    assert str(message["Message-ID"]).encode() in row.message

    # and the link is used to set a password
    body = await mailing_api(ACTIVATE, {"token": token, "password": PASSWORD})
    assert body["data"]["activateUser"] == {"user": {"status": "ACTIVE"}, "errors": []}

    # then the new user signs in
    body = await mailing_api(LOGIN, {"email": "dana@alpha.example", "password": PASSWORD})
    assert body["data"]["login"]["errors"] == []
    assert body["data"]["login"]["user"] == {"email": "dana@alpha.example"}
