"""The event types, which of them are billing data, and which a customer portal sees."""

from __future__ import annotations

# type -> whether it is billing data (seen only with billing access, access.md)
EVENT_TYPES: dict[str, bool] = {
    "invoice.created": True,
    "invoice.posted": True,
    "invoice.paid": True,
    "invoice.voided": True,
    "invoice.discarded": True,
    "payment.succeeded": True,
    "payment.failed": True,
    "account.past_due": True,
    "account.paid_up": True,  # PAST_DUE -> ACTIVE: what a charge failed for is paid
    "account.deactivated": True,
    "account.reactivated": True,
    "customer.created": False,
    "customer.updated": False,
    "subscription.created": False,
    "subscription.ended": False,
    "usage.recorded": False,
    "notification.failed": False,  # billing when it is about an invoice (see record)
}

# A portal sees its own customer's invoices once posted and their payments: never a draft's
# events (created, discarded).
PORTAL_TYPES = frozenset(
    {"invoice.posted", "invoice.paid", "invoice.voided", "payment.succeeded", "payment.failed"}
)
