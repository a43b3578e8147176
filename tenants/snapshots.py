"""What events say about customers and resellers' accounts, in the API's spelling."""

from __future__ import annotations

from typing import Any

from core.global_ids import to_global_id
from tenants.models import Customer, Reseller


def customer(row: Customer) -> dict[str, Any]:
    return {
        "id": to_global_id("Customer", row.id),
        "name": row.name,
        "email": row.email,
        "currency": row.currency,
        "timezone": row.timezone,
        "taxRate": str(row.tax_rate),
        "taxId": row.tax_id,
        "address": row.address,
        "status": str(row.status),
        "createdAt": row.created_at.isoformat() if row.created_at else None,
    }


def account(row: Reseller) -> dict[str, Any]:
    """A reseller's account with the platform: its standing in dunning."""
    return {
        "id": to_global_id("Reseller", row.id),
        "name": row.name,
        "slug": row.slug,
        "status": str(row.status),
        "dunningRetries": row.dunning_retries,
        "lastFailureReason": row.last_failure_reason,
        "lastDeclineCode": row.last_decline_code,
    }
