"""Notification settings over HTTP: a reseller's own values, the platform's fallback and where each
effective value comes from; the logo as a multipart upload checked by content; bad input changes
nothing; who may read and change them."""

from __future__ import annotations

import io
import json
import random
from typing import Any

import pytest
from PIL import Image

from schema.relay import to_global_id
from tests.conftest import Api, error_codes
from tests.factories import World

UPDATE = """mutation($input: UpdateNotificationSettingsInput!) {
  updateNotificationSettings(input: $input) {
    notificationSettings { logoDataUri controlPanelUrl websiteUrl senderName replyTo address
      enabledEvents attachInvoicePdf }
    effective { sellerName senderName replyTo controlPanelUrl enabledEvents
      sources { setting source } }
    errors { code field message }
  }
}"""
EFFECTIVE = """query($id: ID) {
  effectiveNotificationSettings(resellerId: $id) { sellerName logoDataUri controlPanelUrl
    websiteUrl senderName replyTo address taxId paymentInstructions enabledEvents
    attachInvoicePdf sources { setting source } }
}"""
OWN = """query($id: ID) {
  notificationSettings(resellerId: $id) { logoDataUri controlPanelUrl websiteUrl senderName
    replyTo address taxId paymentInstructions enabledEvents attachInvoicePdf }
}"""


def png(width: int = 40, height: int = 16, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, kind)
    return out.getvalue()


async def upload(
    api: Api, token: str, data: bytes, filename: str = "logo.png", **fields: Any
) -> dict[str, Any]:
    """The GraphQL multipart request spec: operations, a map, then the file."""
    operations = {"query": UPDATE, "variables": {"input": {"logo": None, **fields}}}
    response = await api.client.post(
        "/graphql",
        data={
            "operations": json.dumps(operations),
            "map": json.dumps({"0": ["variables.input.logo"]}),
        },
        files={"0": (filename, data, "image/png")},
        headers={"Authorization": f"Bearer {token}"},
    )
    body: dict[str, Any] = response.json()
    return body


def payload(body: dict[str, Any]) -> dict[str, Any]:
    assert "errors" not in body, body
    found: dict[str, Any] = body["data"]["updateNotificationSettings"]
    return found


def sources(effective: dict[str, Any]) -> dict[str, str]:
    return {s["setting"]: s["source"] for s in effective["sources"]}


async def test_a_reseller_overrides_the_platform_value_by_value(api: Api, world: World):
    admin = world.token("platform")
    owner = world.token("owner", world.a)

    # given the platform's settings, and reseller A's own sender and control panel
    platform = payload(
        await api(
            UPDATE,
            {
                "input": {
                    "senderName": "Channelbill Billing",
                    "replyTo": "Billing@Platform.example",
                    "websiteUrl": "https://platform.example",
                    "paymentInstructions": "IBAN DE89 3704 0044 0532 0130 00\nBIC COBADEFFXXX",
                }
            },
            admin,
        )
    )
    assert platform["errors"] == []
    assert platform["notificationSettings"]["replyTo"] == "billing@platform.example"
    own = payload(
        await api(
            UPDATE,
            {
                "input": {
                    "senderName": "Alpha Cloud",
                    "controlPanelUrl": "https://panel.alpha.example/account",
                    "enabledEvents": ["INVOICE_POSTED", "INVOICE_PAID"],
                    "taxId": " DE123456789 ",
                }
            },
            owner,
        )
    )
    assert own["errors"] == []

    # when A's effective settings are read
    effective = (await api(EFFECTIVE, {}, owner))["data"]["effectiveNotificationSettings"]

    # then each value comes from where it was set
    assert effective["sellerName"] == "Alpha Reseller"
    assert effective["senderName"] == "Alpha Cloud"
    assert effective["replyTo"] == "billing@platform.example"
    assert effective["websiteUrl"] == "https://platform.example"
    assert effective["controlPanelUrl"] == "https://panel.alpha.example/account"
    assert effective["enabledEvents"] == ["INVOICE_POSTED", "INVOICE_PAID"]
    assert effective["attachInvoicePdf"] is True
    assert effective["taxId"] == "DE123456789"
    assert effective["paymentInstructions"] == "IBAN DE89 3704 0044 0532 0130 00\nBIC COBADEFFXXX"
    assert sources(effective) == {
        "logoDataUri": "DEFAULT",
        "controlPanelUrl": "RESELLER",
        "websiteUrl": "PLATFORM",
        "senderName": "RESELLER",
        "replyTo": "PLATFORM",
        "address": "DEFAULT",
        "taxId": "RESELLER",
        "paymentInstructions": "PLATFORM",
        "enabledEvents": "RESELLER",
        "attachInvoicePdf": "DEFAULT",
    }

    # and B, with no settings, goes by the platform's
    b = (await api(EFFECTIVE, {}, world.token("owner", world.b)))["data"]
    assert b["effectiveNotificationSettings"]["senderName"] == "Channelbill Billing"
    assert b["effectiveNotificationSettings"]["enabledEvents"] == [
        "INVOICE_POSTED",
        "INVOICE_VOIDED",
        "INVOICE_PAID",
        "PAYMENT_FAILED",
        "ACCOUNT_DEACTIVATED",
        "ACCOUNT_REACTIVATED",
        "INVITATION",
        "WEBHOOK_DISABLED",
    ]

    # when A clears its sender name (null), it falls back; what was left out stays
    cleared = payload(await api(UPDATE, {"input": {"senderName": None}}, owner))
    assert cleared["notificationSettings"]["senderName"] is None
    assert cleared["notificationSettings"]["controlPanelUrl"] == (
        "https://panel.alpha.example/account"
    )
    assert cleared["effective"]["senderName"] == "Channelbill Billing"
    assert sources(cleared["effective"])["senderName"] == "PLATFORM"


async def test_a_logo_is_uploaded_and_checked_by_content(api: Api, world: World):
    owner = world.token("owner", world.a)

    # a PNG, and a JPEG named .png: both taken for what they are
    done = payload(await upload(api, owner, png()))
    assert done["errors"] == []
    assert done["notificationSettings"]["logoDataUri"].startswith("data:image/png;base64,")
    jpeg = payload(await upload(api, owner, png(kind="JPEG"), "logo.png"))
    assert jpeg["notificationSettings"]["logoDataUri"].startswith("data:image/jpeg;base64,")

    # refused: a GIF, text named .png, an empty file, one over 512 KB; the JPEG stays
    noisy = Image.frombytes("RGB", (600, 600), random.Random(7).randbytes(600 * 600 * 3))
    big = io.BytesIO()
    noisy.save(big, "PNG")
    assert len(big.getvalue()) > 512 * 1024
    for data in (png(kind="GIF"), b"<svg onload=alert(1)>", b"", big.getvalue()):
        refused = payload(await upload(api, owner, data))
        assert [(e["code"], e["field"]) for e in refused["errors"]] == [
            ("BAD_USER_INPUT", "logo")
        ], data[:20]
        assert refused["notificationSettings"] is None
    stored = (await api(OWN, {}, owner))["data"]["notificationSettings"]
    assert stored["logoDataUri"] == jpeg["notificationSettings"]["logoDataUri"]

    # null removes it
    removed = payload(await api(UPDATE, {"input": {"logo": None}}, owner))
    assert removed["notificationSettings"]["logoDataUri"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("controlPanelUrl", "javascript:alert(1)"),
        ("websiteUrl", "ftp://files.example"),
        ("websiteUrl", "https://user:secret@alpha.example"),
        ("replyTo", "not an address"),
        ("senderName", "Alpha\r\nBcc: victim@example.com"),
        ("senderName", "x" * 101),
        ("address", "x" * 1001),
        ("taxId", "x" * 65),
        ("taxId", "DE 123\n456"),
        ("paymentInstructions", "x" * 1001),
    ],
)
async def test_bad_input_changes_nothing(api: Api, world: World, field: str, value: str):
    owner = world.token("owner", world.a)
    before = (await api(OWN, {}, owner))["data"]["notificationSettings"]

    # when a bad value comes with a good one
    body = await api(UPDATE, {"input": {"address": "1 Main St", field: value}}, owner)

    # then it is refused, and the good one is not applied either
    refused = payload(body)
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [("BAD_USER_INPUT", field)]
    assert (await api(OWN, {}, owner))["data"]["notificationSettings"] == before


@pytest.mark.parametrize(
    ("who", "allowed"),
    [
        ("owner", True),
        ("manager", True),
        ("client_all", True),
        ("billing_member", False),
        ("member", False),
        ("client_read", False),
        ("client_billing", False),
        ("portal", False),
    ],
)
async def test_who_may_change_settings(api: Api, world: World, who: str, allowed: bool):
    body = await api(UPDATE, {"input": {"senderName": who}}, world.token(who, world.a))
    stored = (await api(OWN, {}, world.token("owner", world.a)))["data"]["notificationSettings"]
    if allowed:
        assert payload(body)["errors"] == []
        assert stored["senderName"] == who
    else:
        assert error_codes(body) == ["FORBIDDEN"]
        assert stored["senderName"] is None


async def test_no_one_changes_or_reads_another_tenants_settings(api: Api, world: World):
    a = to_global_id("Reseller", world.a.id)
    b_owner = world.token("owner", world.b)

    # B's owner naming A: refused, A unchanged
    body = await api(UPDATE, {"input": {"resellerId": a, "senderName": "Mallory"}}, b_owner)
    assert [e["code"] for e in payload(body)["errors"]] == ["FORBIDDEN"]
    read = await api(EFFECTIVE, {"id": a}, b_owner)
    assert read["data"] is None or read["data"]["effectiveNotificationSettings"] is None
    own = await api(OWN, {}, world.token("owner", world.a))
    assert own["data"]["notificationSettings"]["senderName"] is None

    # unauthenticated: nothing
    assert error_codes(await api(UPDATE, {"input": {"senderName": "x"}})) == ["UNAUTHENTICATED"]
    assert error_codes(await api(EFFECTIVE, {})) == ["UNAUTHENTICATED"]

    # a platform admin names A, and changes it
    admin = world.token("platform")
    done = payload(await api(UPDATE, {"input": {"resellerId": a, "senderName": "Alpha"}}, admin))
    assert done["errors"] == []
    effective = (await api(EFFECTIVE, {}, world.token("member", world.a)))["data"]
    assert effective["effectiveNotificationSettings"]["senderName"] == "Alpha"
