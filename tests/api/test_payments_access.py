"""Every payments operation as every kind of caller: unauthenticated, a member without billing
access, an ADMIN without it, an ADMIN with it, the OWNER, each API-client scope set, a customer
portal, another tenant's OWNER and a platform admin. Every object named is reseller A's: its
card on file, the platform's OPEN invoice to it, an OPEN invoice of its first customer."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from starlette.applications import Starlette

from billing.models import InvoiceKind, InvoiceStatus
from db.database import Database
from db.scope import TenantScope
from tests.api.test_access_matrix import CALLERS as MATRIX_CALLERS
from tests.api.test_access_matrix import UNAUTH, gid, outcome, token
from tests.billing.drafts import SYSTEM, run_billing, subscribe
from tests.catalog import make_catalog
from tests.factories import World
from tests.payments.harness import OWNER

# The callers of the access matrix, and an ADMIN without billing access.
CALLERS = [*MATRIX_CALLERS[:2], "manager", *MATRIX_CALLERS[2:]]


@dataclass
class Accounts:
    world: World
    wholesale_id: uuid.UUID
    retail_id: uuid.UUID


@pytest.fixture
async def accounts(app: Starlette, db: Database, world: World) -> Accounts:
    shop = await make_catalog(db)
    services = app.state.services
    await services.payments.cards.update(world.a.id, "pm_card_visa", OWNER)
    await services.payments.cards.set_autopay(world.a.id, False, OWNER)
    a0 = world.a.customers[0]
    await subscribe(db, world.a.id, [a0], [shop.products["m365"]], 2)
    [wholesale] = await run_billing(db, TenantScope.system(), kind=InvoiceKind.WHOLESALE)
    [retail] = await run_billing(db, TenantScope.tenant(world.a.id), customer_ids=[a0])
    async with db.write(TenantScope.system()) as session:
        for invoice_id in (wholesale, retail):
            await services.lifecycle.update_status(
                session, TenantScope.system(), SYSTEM, invoice_id, InvoiceStatus.OPEN, False
            )
    return Accounts(world, wholesale, retail)


# The reseller's own billing: users with billing access, billing clients, platform admins.
READERS = {
    **UNAUTH,
    "member": "BILLING_ACCESS_REQUIRED",
    "manager": "BILLING_ACCESS_REQUIRED",
    "client_read": "BILLING_ACCESS_REQUIRED",
    "portal": "BILLING_ACCESS_REQUIRED",
    "other_tenant": "NOT_FOUND",
    "*": "ok",
}
WRITERS = READERS  # the same callers, with billing:write for clients (client_all, client_billing)
# Who records a customer's payment: the reseller's billing writers and platform admins.
RETAIL_RECORDERS = {**READERS}
# The platform's invoice is the platform's to record; its buyer pays it with payInvoice.
WHOLESALE_RECORDERS = {**READERS, "platform": "ok", "other_tenant": "NOT_FOUND", "*": "FORBIDDEN"}
for _who in ("member", "manager", "client_read", "portal", "anonymous"):
    WHOLESALE_RECORDERS[_who] = READERS[_who]


OPERATIONS: dict[str, tuple[str, Any, dict[str, str]]] = {
    "reseller billing": (
        """query($id: ID!) { node(id: $id) { ... on Reseller {
             paymentMethod { brand last4 expMonth expYear } autopay
             dunning { state attempts nextRetryAt overdue { amount } } } } }""",
        lambda x: {"id": gid("Reseller", x.world.a.id)},
        # a client with billing scopes only, and a portal, read no reseller object at all
        {**READERS, "portal": "FORBIDDEN", "client_billing": "FORBIDDEN"},
    ),
    "viewer reseller billing": (
        """{ viewer { reseller { paymentMethod { last4 } autopay dunning { state } } } }""",
        lambda x: {},
        # its own reseller, for another tenant too; the reseller object itself needs a tenant
        # read scope (client_billing has billing scopes only), and a portal never sees it
        {**READERS, "other_tenant": "ok", "client_billing": "FORBIDDEN", "portal": "FORBIDDEN"},
    ),
    "updatePaymentMethod": (
        """mutation($id: ID!) { updatePaymentMethod(input: {paymentToken: "pm_card_mastercard",
             resellerId: $id}) { paymentMethod { last4 } errors { code } } }""",
        lambda x: {"id": gid("Reseller", x.world.a.id)},
        WRITERS,
    ),
    "createCardSetup": (
        """mutation($id: ID!) { createCardSetup(input: {resellerId: $id}) {
             gateway clientSecret errors { code } } }""",
        lambda x: {"id": gid("Reseller", x.world.a.id)},
        WRITERS,
    ),
    "setAutopay": (
        """mutation($id: ID!) { setAutopay(input: {enabled: true, resellerId: $id}) {
             reseller { autopay } errors { code } } }""",
        lambda x: {"id": gid("Reseller", x.world.a.id)},
        WRITERS,
    ),
    "reactivateAccount": (
        """mutation($id: ID!) { reactivateAccount(input: {paymentToken: "pm_card_visa",
             resellerId: $id}) { errors { code } } }""",
        lambda x: {"id": gid("Reseller", x.world.a.id)},
        # every caller allowed reaches the rule that an ACTIVE account is not reactivated
        {**WRITERS, "*": "ACCOUNT_NOT_DEACTIVATED"},
    ),
    "payInvoice": (
        """mutation($id: ID!) { payInvoice(input: {invoiceId: $id}) {
             payment { status } errors { code } } }""",
        lambda x: {"id": gid("Invoice", x.wholesale_id)},
        WRITERS,
    ),
    "payInvoice retail": (
        """mutation($id: ID!) { payInvoice(input: {invoiceId: $id}) { errors { code } } }""",
        lambda x: {"id": gid("Invoice", x.retail_id)},
        {**WRITERS, "*": "PAYMENT_NOT_POSSIBLE"},
    ),
    "recordPayment": (
        """mutation($id: ID!) { recordPayment(input: {invoiceId: $id, amount: "1.00",
             method: BANK_TRANSFER, reference: "T-1"}) { payment { status } errors { code } } }""",
        lambda x: {"id": gid("Invoice", x.retail_id)},
        RETAIL_RECORDERS,
    ),
    "recordPayment wholesale": (
        """mutation($id: ID!) { recordPayment(input: {invoiceId: $id, amount: "1.00",
             method: CHEQUE}) { payment { status } errors { code } } }""",
        lambda x: {"id": gid("Invoice", x.wholesale_id)},
        WHOLESALE_RECORDERS,
    ),
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("operation", OPERATIONS)
async def test_access(api, accounts: Accounts, operation: str, caller: str):
    document, variables, expected = OPERATIONS[operation]
    body = await api(document, variables(accounts), token=token(accounts.world, caller))
    assert outcome(body) == expected.get(caller, expected["*"]), body
