"""Every operation as every kind of caller, with the outcome access.md gives each.

Callers: anonymous; a MEMBER without billing access; an ADMIN with it; the OWNER; API clients
holding every scope, only customers:read, and only the billing scopes; a customer portal (for A's
first customer); the OWNER of another reseller; a platform admin. Every object named belongs to A.
"""

import pytest

from schema.relay import to_global_id
from tests.conftest import error_codes
from tests.factories import World

CALLERS = [
    "anonymous",
    "member",
    "billing_manager",
    "owner",
    "client_all",
    "client_read",
    "client_billing",
    "portal",
    "other_tenant",
    "platform",
]


def token(world: World, caller: str) -> str | None:
    if caller == "anonymous":
        return None
    if caller == "platform":
        return world.token("platform")
    if caller == "other_tenant":
        return world.token("owner", world.b)
    return world.token(caller, world.a)


def gid(type_name, id_):
    return to_global_id(type_name, id_)


UNAUTH = {"anonymous": "UNAUTHENTICATED"}
# A client with billing scopes only: no tenant data, and nothing but billing writes.
NO_TENANT_DATA = {"client_billing": "FORBIDDEN"}
# Who may manage users and API clients: OWNER, ADMIN and platform admins.
MANAGERS_ONLY = {
    **UNAUTH,
    **NO_TENANT_DATA,
    "member": "FORBIDDEN",
    "client_all": "FORBIDDEN",
    "client_read": "FORBIDDEN",
    "portal": "FORBIDDEN",
    "other_tenant": "NOT_FOUND",
    "*": "ok",
}
# Billing writers: users with billing access, clients with billing:write, platform admins.
BILLING_WRITERS = {
    **UNAUTH,
    "member": "BILLING_ACCESS_REQUIRED",
    "client_read": "BILLING_ACCESS_REQUIRED",
    "portal": "BILLING_ACCESS_REQUIRED",
    "other_tenant": "NOT_FOUND",
    "*": "ok",
}
CUSTOMER_WRITERS = {
    **UNAUTH,
    **NO_TENANT_DATA,
    "member": "FORBIDDEN",
    "client_read": "FORBIDDEN",
    "portal": "FORBIDDEN",
    "other_tenant": "NOT_FOUND",
    "*": "ok",
}

OPERATIONS = {
    # name: (document, variables(world), expected outcome per caller; "*" for the rest)
    "viewer": ("{ viewer { kind } }", lambda w: {}, {**UNAUTH, "*": "ok"}),
    "viewer.seller": ("{ viewer { seller { name } } }", lambda w: {}, {**UNAUTH, "*": "ok"}),
    "customers": (
        "{ customers { totalCount } }",
        lambda w: {},
        {**UNAUTH, **NO_TENANT_DATA, "*": "ok"},
    ),
    "users": (
        "{ users { totalCount } }",
        lambda w: {},
        {**UNAUTH, **NO_TENANT_DATA, "portal": "FORBIDDEN", "*": "ok"},
    ),
    "viewer.reseller.customers": (
        "{ viewer { reseller { customers { totalCount } } } }",
        lambda w: {},
        {**UNAUTH, **NO_TENANT_DATA, "portal": "FORBIDDEN", "*": "ok"},
    ),
    "resellers": (
        "{ resellers { totalCount } }",
        lambda w: {},
        {**UNAUTH, "platform": "ok", "*": "FORBIDDEN"},
    ),
    "apiClients": (
        "{ apiClients { totalCount } }",
        lambda w: {},
        {**MANAGERS_ONLY, "other_tenant": "ok"},
    ),
    "auditEvents": (
        "{ auditEvents { totalCount } }",
        lambda w: {},
        {**MANAGERS_ONLY, "other_tenant": "ok"},
    ),
    # Every caller reads its own part of the event log (tests/events/test_access.py: which).
    "events": ("{ events { totalCount } }", lambda w: {}, {**UNAUTH, "*": "ok"}),
    "node(customer)": (
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": gid("Customer", w.a.customers[0])},
        {**UNAUTH, **NO_TENANT_DATA, "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
    "node(reseller)": (
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": gid("Reseller", w.a.id)},
        {**UNAUTH, **NO_TENANT_DATA, "portal": "FORBIDDEN", "other_tenant": "NOT_FOUND", "*": "ok"},
    ),
    "node(another customer)": (
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": gid("Customer", w.a.customers[1])},
        {**UNAUTH, **NO_TENANT_DATA, "other_tenant": "NOT_FOUND", "portal": "NOT_FOUND", "*": "ok"},
    ),
    "nodes(user)": (
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }",
        lambda w: {"ids": [gid("User", w.a.users["member"])]},
        {**UNAUTH, **NO_TENANT_DATA, "other_tenant": "NOT_FOUND", "portal": "FORBIDDEN", "*": "ok"},
    ),
    "node(apiClient)": (
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": gid("ApiClient", w.a.clients["client_read"].id)},
        MANAGERS_ONLY,
    ),
    "Customer.balance": (
        "query($id: ID!) { node(id: $id) { ... on Customer { name balance { amount } } } }",
        lambda w: {"id": gid("Customer", w.a.customers[0])},
        {
            **UNAUTH,
            **NO_TENANT_DATA,
            "member": "BILLING_ACCESS_REQUIRED",
            "client_read": "BILLING_ACCESS_REQUIRED",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "Reseller.balance": (
        "query($id: ID!) { node(id: $id) { ... on Reseller { name balance { amount } } } }",
        lambda w: {"id": gid("Reseller", w.a.id)},
        {
            **UNAUTH,
            **NO_TENANT_DATA,
            "member": "BILLING_ACCESS_REQUIRED",
            "client_read": "BILLING_ACCESS_REQUIRED",
            "portal": "FORBIDDEN",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "createCustomer": (
        """mutation($input: CreateCustomerInput!) {
             createCustomer(input: $input) { customer { id } errors { code } } }""",
        lambda w: {
            "input": {
                "resellerId": gid("Reseller", w.a.id),
                "name": "New",
                "email": "new@new.example",
                "currency": "EUR",
            }
        },
        CUSTOMER_WRITERS,
    ),
    "updateCustomer": (
        """mutation($input: UpdateCustomerInput!) {
             updateCustomer(input: $input) { customer { id } errors { code } } }""",
        lambda w: {"input": {"customerId": gid("Customer", w.a.customers[0]), "name": "Z"}},
        CUSTOMER_WRITERS,
    ),
    "createReseller": (
        """mutation($input: CreateResellerInput!) {
             createReseller(input: $input) { reseller { id } errors { code } } }""",
        lambda w: {
            "input": {
                "name": "Initech Cloud",
                "currency": "USD",
                "owner": {"email": "boss@initech.example", "name": "Bill"},
            }
        },
        {**UNAUTH, "platform": "ok", "*": "FORBIDDEN"},
    ),
    "inviteUser": (
        """mutation($input: InviteUserInput!) {
             inviteUser(input: $input) { user { id } errors { code } } }""",
        lambda w: {
            "input": {
                "resellerId": gid("Reseller", w.a.id),
                "email": "newbie@alpha.example",
                "name": "New Bie",
                "role": "MEMBER",
            }
        },
        MANAGERS_ONLY,
    ),
    "resendInvitation": (
        """mutation($input: UserIdInput!) {
             resendInvitation(input: $input) { user { id } errors { code } } }""",
        lambda w: {"input": {"userId": gid("User", w.a.users["invited"])}},
        MANAGERS_ONLY,
    ),
    "disableUser": (
        """mutation($input: UserIdInput!) {
             disableUser(input: $input) { user { status } errors { code } } }""",
        lambda w: {"input": {"userId": gid("User", w.a.users["manager"])}},
        MANAGERS_ONLY,
    ),
    "enableUser": (
        """mutation($input: UserIdInput!) {
             enableUser(input: $input) { user { status } errors { code } } }""",
        lambda w: {"input": {"userId": gid("User", w.a.users["manager"])}},
        MANAGERS_ONLY,
    ),
    "setBillingAccess": (
        """mutation($input: SetBillingAccessInput!) {
             setBillingAccess(input: $input) { user { billingAccess } errors { code } } }""",
        lambda w: {"input": {"userId": gid("User", w.a.users["manager"]), "enabled": True}},
        {
            **UNAUTH,
            "member": "BILLING_ACCESS_REQUIRED",
            "client_all": "FORBIDDEN",
            "client_read": "FORBIDDEN",
            "client_billing": "FORBIDDEN",
            "portal": "FORBIDDEN",
            "other_tenant": "NOT_FOUND",
            "*": "ok",
        },
    ),
    "createApiClient": (
        """mutation($input: CreateApiClientInput!) {
             createApiClient(input: $input) { clientId errors { code } } }""",
        lambda w: {
            "input": {
                "resellerId": gid("Reseller", w.a.id),
                "name": "ERP",
                "scopes": ["customers:read"],
            }
        },
        MANAGERS_ONLY,
    ),
    "revokeApiClient": (
        """mutation($input: RevokeApiClientInput!) {
             revokeApiClient(input: $input) { apiClient { revokedAt } errors { code } } }""",
        lambda w: {"input": {"apiClientId": gid("ApiClient", w.a.clients["client_read"].id)}},
        MANAGERS_ONLY,
    ),
    "createCustomerPortalToken": (
        """mutation($input: CreateCustomerPortalTokenInput!) {
             createCustomerPortalToken(input: $input) { token errors { code } } }""",
        lambda w: {"input": {"customerId": gid("Customer", w.a.customers[1])}},
        BILLING_WRITERS,
    ),
    "revokeCustomerPortalToken": (
        """mutation($input: RevokeCustomerPortalTokenInput!) {
             revokeCustomerPortalToken(input: $input) {
               portalToken { revokedAt } errors { code } } }""",
        lambda w: {"input": {"portalTokenId": gid("PortalToken", w.a.portal_token_id)}},
        BILLING_WRITERS,
    ),
    "sendTestNotification": (
        """mutation { sendTestNotification(input: {event: INVOICE_POSTED}) {
             recipient errors { code } } }""",
        lambda w: {},
        {**MANAGERS_ONLY, "other_tenant": "ok"},
    ),
    "sendTestNotification as A": (
        """mutation($input: SendTestNotificationInput!) {
             sendTestNotification(input: $input) { recipient errors { code } } }""",
        lambda w: {"input": {"event": "PAYMENT_FAILED", "resellerId": gid("Reseller", w.a.id)}},
        {**MANAGERS_ONLY, "other_tenant": "FORBIDDEN"},
    ),
    "activateUser": (
        """mutation($input: ActivateUserInput!) {
             activateUser(input: $input) { user { id } errors { code } } }""",
        lambda w: {"input": {"token": "not-a-real-token", "password": "long enough password"}},
        {"*": "INVALID_TOKEN"},
    ),
}


def outcome(body: dict) -> str:
    codes = error_codes(body)
    if codes:
        return codes[0]
    data = body["data"]
    (value,) = data.values()
    if isinstance(value, dict) and value.get("errors"):
        return value["errors"][0]["code"]
    if isinstance(value, list) and value == [None]:
        return "NOT_FOUND"
    return "ok"


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_access(api, world: World, operation, caller):
    document, variables, expected = OPERATIONS[operation]
    body = await api(document, variables(world), token=token(world, caller))
    assert outcome(body) == expected.get(caller, expected["*"]), body
