"""login, refreshToken and the bearer tokens they give out."""

import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey, RSAKey

from auth.tokens import USER_AUDIENCE
from schema.relay import to_global_id
from tests.conftest import TEST_SECRET, error_codes
from tests.factories import PASSWORD, World

LOGIN = """mutation($email: String!, $password: String!) {
  login(input: {email: $email, password: $password}) {
    accessToken refreshToken expiresAt user { email role reseller { slug } } errors { code message }
  }
}"""
REFRESH = """mutation($token: String!) {
  refreshToken(input: {refreshToken: $token}) { accessToken refreshToken errors { code } }
}"""
VIEWER = "{ viewer { kind isPlatformAdmin permissions user { email } } }"


async def test_login_gives_a_token_that_identifies_the_user(api, world: World):
    # when
    body = await api(LOGIN, {"email": "OWNER@alpha.example", "password": PASSWORD})
    # then
    login = body["data"]["login"]
    assert login["errors"] == []
    assert login["user"] == {
        "email": "owner@alpha.example",
        "role": "OWNER",
        "reseller": {"slug": "alpha"},
    }
    viewer = await api(VIEWER, token=login["accessToken"])
    assert viewer["data"]["viewer"]["user"]["email"] == "owner@alpha.example"
    assert viewer["data"]["viewer"]["kind"] == "USER"
    assert "BILLING" in viewer["data"]["viewer"]["permissions"]


async def test_platform_admin_login(api, world: World):
    body = await api(LOGIN, {"email": "admin@platform.example", "password": PASSWORD})
    token = body["data"]["login"]["accessToken"]
    viewer = await api(VIEWER, token=token)
    assert viewer["data"]["viewer"]["isPlatformAdmin"] is True
    assert viewer["data"]["viewer"]["kind"] == "PLATFORM_ADMIN"


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("owner@alpha.example", "wrong password!"),
        ("nobody@alpha.example", PASSWORD),
        ("invited@alpha.example", PASSWORD),
        ("", ""),
    ],
)
async def test_login_failures_all_look_the_same(api, world: World, email, password):
    body = await api(LOGIN, {"email": email, "password": password})
    assert body["data"]["login"] == {
        "accessToken": None,
        "refreshToken": None,
        "expiresAt": None,
        "user": None,
        "errors": [{"code": "INVALID_CREDENTIALS", "message": "invalid email or password"}],
    }


async def test_refresh_rotates_and_a_reused_token_revokes_the_family(api, world: World):
    # given
    login = (await api(LOGIN, {"email": "member@alpha.example", "password": PASSWORD}))["data"][
        "login"
    ]
    first = login["refreshToken"]
    # when
    rotated = (await api(REFRESH, {"token": first}))["data"]["refreshToken"]
    # then
    assert rotated["errors"] == [] and rotated["refreshToken"] not in (None, first)
    assert (await api(VIEWER, token=rotated["accessToken"]))["data"]["viewer"]["kind"] == "USER"
    # when the spent token is presented again (a stolen copy)
    reused = (await api(REFRESH, {"token": first}))["data"]["refreshToken"]
    # then it is refused, and the legitimate newer token is revoked too
    assert reused["errors"] == [{"code": "TOKEN_REUSED"}]
    after = (await api(REFRESH, {"token": rotated["refreshToken"]}))["data"]["refreshToken"]
    assert after["accessToken"] is None and after["errors"] == [{"code": "INVALID_CREDENTIALS"}]
    # and the reseller's audit log records it
    log = await api(
        "{ auditEvents { edges { node { action objectId actor { kind } } } } }",
        token=world.token("owner", world.a),
    )
    assert [e["node"] for e in log["data"]["auditEvents"]["edges"]] == [
        {
            "action": "session.refresh_token_reused",
            "objectId": to_global_id("User", world.a.users["member"]),
            "actor": {"kind": "SYSTEM"},
        }
    ]


async def test_unknown_refresh_token_is_refused(api, world: World):
    body = await api(REFRESH, {"token": "not-a-token"})
    assert body["data"]["refreshToken"]["errors"] == [{"code": "INVALID_CREDENTIALS"}]


def _forge(claims: dict, *, key: bytes = TEST_SECRET.encode(), alg: str = "HS256") -> str:
    return jwt.encode({"alg": alg}, claims, OctKey.import_key(key), algorithms=[alg])


def _rsa(claims: dict) -> str:
    return jwt.encode({"alg": "RS256"}, claims, RSAKey.generate_key(2048), algorithms=["RS256"])


def _claims(world: World, **overrides) -> dict:
    now = int(time.time())
    claims = {
        "iss": "channelbill",
        "aud": USER_AUDIENCE,
        "sub": f"user:{world.a.users['owner']}",
        "rid": str(world.a.id),
        "sid": str(world.sessions[world.a.users["owner"]]),
        "iat": now,
        "exp": now + 600,
        "jti": "x",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _none_alg(claims: dict) -> str:
    import base64
    import json

    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


BAD_TOKENS = {
    "expired": lambda w: _forge(_claims(w, exp=int(time.time()) - 60, iat=int(time.time()) - 900)),
    "wrong audience": lambda w: _forge(_claims(w, aud="channelbill-portal")),
    "wrong issuer": lambda w: _forge(_claims(w, iss="someone-else")),
    "missing exp": lambda w: _forge(_claims(w, exp=None)),
    "missing aud": lambda w: _forge(_claims(w, aud=None)),
    "missing jti": lambda w: _forge(_claims(w, jti=None)),
    "issued in the future": lambda w: _forge(_claims(w, iat=int(time.time()) + 3600)),
    "other key": lambda w: _forge(_claims(w), key=b"another-secret-that-is-long-enough-000"),
    "alg none": lambda w: _none_alg(_claims(w)),
    "HS384": lambda w: _forge(_claims(w), alg="HS384"),
    "RS256": lambda w: _rsa(_claims(w)),
    "tampered": lambda w: _forge(_claims(w))[:-3] + "AAA",
    "another tenant's user in my tenant": lambda w: _forge(
        _claims(w, sub=f"user:{w.b.users['owner']}")
    ),
    "platform admin claim on a user": lambda w: _forge(
        _claims(w, sub=f"admin:{w.a.users['owner']}")
    ),
    "invited user": lambda w: _forge(_claims(w, sub=f"user:{w.a.users['invited']}")),
    "garbage": lambda w: "not.a.jwt",
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
async def test_bad_tokens_are_rejected(api, world: World, kind):
    response = await api.raw(VIEWER, token=BAD_TOKENS[kind](world))
    assert response.status_code == 401
    assert response.json() == {
        "data": None,
        "errors": [
            {"message": "invalid or expired token", "extensions": {"code": "UNAUTHENTICATED"}}
        ],
    }


async def test_a_good_forged_token_is_accepted(api, world: World):
    """The forging above is right: with every claim in order the same method is accepted."""
    response = await api.raw(VIEWER, token=_forge(_claims(world)))
    assert response.status_code == 200
    assert response.json()["data"]["viewer"]["user"]["email"] == "owner@alpha.example"


async def test_no_token_means_anonymous(api, world: World):
    body = await api(VIEWER)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]


async def test_non_bearer_authorization_is_rejected(client, world: World):
    response = await client.post(
        "/graphql", json={"query": VIEWER}, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert response.status_code == 401
