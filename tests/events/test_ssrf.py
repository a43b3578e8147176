"""No webhook inside our network: what createWebhookEndpoint and updateWebhookEndpoint refuse
(delivery-time refusals are in test_webhooks), and the address rules themselves."""

from __future__ import annotations

import ipaddress

import pytest

from core.errors import ValidationFailed
from db.database import Database
from db.scope import TenantScope
from tenants.audit import Actor
from tests.conftest import Api
from tests.factories import World
from webhooks import ssrf
from webhooks.endpoints import Webhooks
from webhooks.sealed import SecretBox

CREATE = """mutation($input: CreateWebhookEndpointInput!) {
  createWebhookEndpoint(input: $input) { endpoint { id } secret errors { code field message } }
}"""
UPDATE = """mutation($input: UpdateWebhookEndpointInput!) {
  updateWebhookEndpoint(input: $input) { endpoint { url } errors { code field message } }
}"""
COUNT = "{ webhookEndpoints { totalCount } }"

REFUSED = [
    "http://8.8.8.8/hooks",  # plain http
    "https://127.0.0.1/hooks",
    "https://127.1.2.3/hooks",
    "https://localhost/hooks",  # a name that resolves to loopback
    "https://2130706433/hooks",  # 127.0.0.1 as one number
    "https://[::1]/hooks",
    "https://10.1.2.3/hooks",
    "https://172.16.0.1/hooks",
    "https://192.168.0.10/hooks",
    "https://169.254.10.1/hooks",  # link-local
    "https://[fe80::1]/hooks",
    "https://[fd12:3456::1]/hooks",  # unique-local
    "https://100.64.0.1/hooks",  # CGNAT
    "https://224.0.0.251/hooks",  # multicast
    "https://[ff02::1]/hooks",
    "https://0.0.0.0/hooks",  # unspecified
    "https://[::]/hooks",
    "https://[::ffff:10.0.0.1]/hooks",  # IPv4-mapped private
    "https://[::ffff:127.0.0.1]/hooks",
    "https://[64:ff9b::a00:1]/hooks",  # NAT64 of 10.0.0.1
    "https://[2002:a00:1::]/hooks",  # 6to4 of 10.0.0.1
    "https://169.254.169.254/latest/meta-data/",
    "https://[fd00:ec2::254]/",
    "https://metadata.google.internal/computeMetadata/v1/",
    "https://user:secret@8.8.8.8/hooks",
    "https://no-such-host.invalid/hooks",
    "ftp://8.8.8.8/hooks",
    "not a url",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_creation_refuses_every_address_inside(api: Api, world: World, url: str):
    owner = world.token("owner", world.a)
    body = await api(CREATE, {"input": {"url": url, "events": ["invoice.paid"]}}, owner)
    made = body["data"]["createWebhookEndpoint"]
    assert [(e["code"], e["field"]) for e in made["errors"]] == [("BAD_USER_INPUT", "url")], body
    assert made["endpoint"] is None and made["secret"] is None
    assert (await api(COUNT, {}, owner))["data"]["webhookEndpoints"]["totalCount"] == 0


async def test_a_public_address_is_accepted_and_a_change_to_an_inner_one_refused(
    api: Api, world: World
):
    owner = world.token("owner", world.a)
    body = await api(
        CREATE, {"input": {"url": "https://8.8.8.8/hooks", "events": ["invoice.paid"]}}, owner
    )
    made = body["data"]["createWebhookEndpoint"]
    assert made["errors"] == [] and made["secret"].startswith("whsec_")
    endpoint_id = made["endpoint"]["id"]
    body = await api(
        UPDATE, {"input": {"endpointId": endpoint_id, "url": "https://10.0.0.1/"}}, owner
    )
    assert [e["field"] for e in body["data"]["updateWebhookEndpoint"]["errors"]] == ["url"]
    body = await api(
        UPDATE, {"input": {"endpointId": endpoint_id, "url": "https://8.8.4.4/x"}}, owner
    )
    assert body["data"]["updateWebhookEndpoint"]["endpoint"] == {"url": "https://8.8.4.4/x"}


@pytest.mark.parametrize(
    ("events", "message"),
    [([], "at least one"), (["invoice.exploded"], "unknown event type")],
)
async def test_event_types_are_checked(api: Api, world: World, events: list, message: str):  # type: ignore[type-arg]
    owner = world.token("owner", world.a)
    body = await api(CREATE, {"input": {"url": "https://8.8.8.8/", "events": events}}, owner)
    [error] = body["data"]["createWebhookEndpoint"]["errors"]
    assert error["field"] == "events" and message in error["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/",
        "http://100.100.100.200/",
    ],
)
async def test_metadata_is_refused_even_where_private_targets_are_allowed(
    db: Database, world: World, url: str
):
    webhooks = Webhooks(SecretBox("k" * 40), allow_private=True)
    scope = TenantScope.tenant(world.a.id)
    with pytest.raises(ValidationFailed, match="metadata"):
        async with db.write(scope) as session:
            await webhooks.create(session, scope, Actor.system(), url, ["invoice.paid"])


async def test_private_targets_allowed_take_loopback_and_http(db: Database, world: World):
    webhooks = Webhooks(SecretBox("k" * 40), allow_private=True)
    scope = TenantScope.tenant(world.a.id)
    async with db.write(scope) as session:
        endpoint, _ = await webhooks.create(
            session, scope, Actor.system(), "http://localhost:9/hooks", ["invoice.paid"]
        )
    assert endpoint.url == "http://localhost:9/hooks"


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "1.1.1.1", "2001:4860:4860::8888", "2606:4700:4700::1111"],
)
def test_public_addresses_pass(address: str):
    ssrf.check(ipaddress.ip_address(address), allow_private=False)


def test_a_target_connects_to_the_checked_address_with_the_name_as_host():
    target = ssrf.parse("https://hooks.example.com:8443/in?x=1", allow_private=False)
    assert (
        target.url_for(ipaddress.ip_address("2001:db8::1")) == "https://[2001:db8::1]:8443/in?x=1"
    )
    assert target.host_header == "hooks.example.com:8443"
    assert ssrf.parse("https://Hooks.Example.com./", allow_private=False).host_header == (
        "hooks.example.com"
    )
