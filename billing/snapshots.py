"""What events say about billing objects: snapshots in the API's spelling (camelCase, global
ids, money as decimal strings rounded as the API rounds them), so a webhook's or an event's
payload reads like the object a query returns."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from billing.models import Invoice, InvoiceKind, Payment, Subscription, UsageRecord
from core.currency import quantize
from core.global_ids import to_global_id


def money(amount: Decimal, currency: str) -> dict[str, str]:
    return {"amount": str(quantize(amount, currency)), "currency": currency}


def _instant(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _day(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _gid(type_name: str, id_: uuid.UUID | None) -> str | None:
    return to_global_id(type_name, id_) if id_ is not None else None


def invoice(row: Invoice | Any) -> dict[str, Any]:
    """``row``: an Invoice, or anything with its attributes (a billing run's new rows)."""
    c = row.currency
    retail = row.kind is InvoiceKind.RETAIL
    reseller = {"kind": "RESELLER", "accountId": to_global_id("Reseller", row.reseller_id)}
    if retail:
        seller = {**reseller, "name": row.seller_name}
        buyer = {
            "kind": "CUSTOMER",
            "accountId": _gid("Customer", row.customer_id),
            "name": row.buyer_name,
        }
    else:
        seller = {"kind": "PLATFORM", "accountId": None, "name": row.seller_name}
        buyer = {**reseller, "name": row.buyer_name}
    return {
        "id": to_global_id("Invoice", row.id),
        "documentId": row.document_id,
        "number": row.number,
        "status": str(row.status),
        "billTo": "CUSTOMER" if retail else "RESELLER",
        "seller": seller,
        "buyer": buyer,
        "periodStart": _day(row.period_start),
        "periodEnd": _day(row.period_end),
        "currency": c,
        "taxRate": str(row.tax_rate),
        "subtotal": money(row.subtotal, c),
        "tax": money(row.tax, c),
        "total": money(row.total, c),
        "amountPaid": money(row.amount_paid, c),
        "amountDue": money(row.total - row.amount_paid, c),
        "issuedAt": _instant(row.issued_at),
        "dueDate": _day(row.due_date),
        "closedAt": _instant(row.closed_at),
        "voidedAt": _instant(row.voided_at),
        "createdAt": _instant(row.created_at),
    }


def payment(row: Payment) -> dict[str, Any]:
    return {
        "id": to_global_id("Payment", row.id),
        "invoice": {"id": to_global_id("Invoice", row.invoice_id)},
        "amount": money(row.amount, row.currency),
        "method": str(row.method),
        "status": str(row.status),
        "trigger": str(row.trigger),
        "attempt": row.attempt,
        "failureReason": row.failure_reason,
        "declineCode": row.decline_code,
        "gatewayReference": row.gateway_charge_id,
        "reference": row.reference,
        "paidAt": _instant(row.paid_at),
    }


def subscription(row: Subscription) -> dict[str, Any]:
    return {
        "id": to_global_id("CustomerSubscription", row.id),
        "customer": {"id": to_global_id("Customer", row.customer_id)},
        "product": {"id": to_global_id("Product", row.product_id)},
        "quantity": row.quantity,
        "startDate": _day(row.start_date),
        "endDate": _day(row.end_date),
        "createdAt": _instant(row.created_at),
    }


def usage_record(row: UsageRecord) -> dict[str, Any]:
    return {
        "id": to_global_id("UsageRecord", row.id),
        "customer": {"id": to_global_id("Customer", row.customer_id)},
        "product": {"id": to_global_id("Product", row.product_id)},
        "quantity": str(row.quantity),
        "occurredAt": _instant(row.occurred_at),
        "reference": row.reference,
    }
