"""Documents built by hand, without a database: what the renderers and the CSV writers are given."""

from __future__ import annotations

import io
import uuid
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

from PIL import Image

from billing.models import InvoiceStatus
from billing.statements import Aging, Entry, Statement
from documents.content import (
    Buyer,
    Charge,
    InvoiceDocument,
    Line,
    Seller,
    StatementDocument,
    StatementLine,
)

PERIOD_START = date(2026, 11, 1)
PERIOD_END = date(2026, 11, 30)
SELLER = Seller(
    name="Acme Cloud GmbH",
    address_lines=["1 Main Street", "10115 Berlin", "Germany"],
    logo_data_uri=None,
    control_panel_url="https://panel.acme.example/account",
    website_url="https://acme.example",
)
BUYER = Buyer("Kunde Müller & Söhne GmbH", "billing@kunde.example", "DE123456789")


@dataclass
class Canary:
    """The loopback server of the ``canary`` fixture: every path it was asked for."""

    base_url: str
    requests: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


def png(width: int = 24, height: int = 12, color: tuple[int, int, int] = (30, 90, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "PNG")
    return out.getvalue()


def make_line(position: int, **overrides: Any) -> Line:
    values: dict[str, Any] = {
        "id": uuid.UUID(int=position),
        "position": position,
        "sku": f"MS-365-BP-{position}",
        "description": f"Microsoft 365 Business Premium, seat pack {position}",
        "kind": "RECURRING",
        "quantity": Decimal("3"),
        "unit": "seat",
        "unit_price": Decimal("12.50"),
        "amount": Decimal("37.50"),
        "service_start": PERIOD_START,
        "service_end": PERIOD_END,
    }
    values.update(overrides)
    return Line(**values)


def make_charge(line: Line, **overrides: Any) -> Charge:
    values: dict[str, Any] = {
        "line": line.position,
        "sku": line.sku,
        "description": line.description,
        "source": "SUBSCRIPTION",
        "reference": str(uuid.UUID(int=1000 + line.position)),
        "start_date": line.service_start,
        "end_date": line.service_end,
        "quantity": line.quantity,
        "unit_price": line.unit_price,
        "days": 30,
        "period_days": 30,
        "amount": line.amount,
    }
    values.update(overrides)
    return Charge(**values)


def make_invoice(**overrides: Any) -> InvoiceDocument:
    """An OPEN invoice of two lines: 37.50 + 62.50 = 100.00, 19% tax, 119.00 due."""
    lines = [
        make_line(1),
        make_line(
            2,
            sku="AZ-PLAN",
            description="Azure plan, usage",
            kind="USAGE",
            quantity=Decimal("2"),
            unit="unit",
            unit_price=Decimal("31.25"),
            amount=Decimal("62.50"),
        ),
    ]
    doc = InvoiceDocument(
        id=uuid.UUID(int=42),
        reseller_id=uuid.UUID(int=7),
        document_id="D-7F3A9C",
        number="CB-2026-000042",
        status=InvoiceStatus.OPEN,
        wholesale=False,
        seller=SELLER,
        buyer=BUYER,
        vendor="Microsoft",
        period_start=PERIOD_START,
        period_end=PERIOD_END,
        currency="EUR",
        issued_on=date(2026, 12, 1),
        due_date=date(2026, 12, 31),
        lines=lines,
        charges=[make_charge(line) for line in lines],
        subtotal=Decimal("100.00"),
        tax_rate=Decimal("19"),
        tax=Decimal("19.00"),
        total=Decimal("119.00"),
        amount_paid=Decimal("0.00"),
        custom_fields=[("PO number", "PO-4711"), ("Cost center", "CC-0815")],
    )
    return replace(doc, **overrides)


def long_invoice(count: int = 60, **overrides: Any) -> InvoiceDocument:
    lines = [make_line(i) for i in range(1, count + 1)]
    subtotal = sum((line.amount for line in lines), Decimal(0))
    return make_invoice(
        lines=lines,
        charges=[make_charge(line) for line in lines],
        subtotal=subtotal,
        tax=Decimal(0),
        tax_rate=Decimal(0),
        total=subtotal,
        **overrides,
    )


def make_statement(**overrides: Any) -> StatementDocument:
    """Opening 250.00; invoice 119.00, payment 200.00, invoice 37.50: closing 206.50."""
    owner = uuid.UUID(int=99)
    statement = Statement(
        account_type="Customer",
        account_id=owner,
        reseller_id=uuid.UUID(int=7),
        account_name=BUYER.name,
        currency="EUR",
        start=date(2026, 11, 1),
        end=date(2026, 12, 31),
        opening_balance=Decimal("250.00"),
        closing_balance=Decimal("206.50"),
        entries=[
            Entry(
                date(2026, 11, 3),
                "INVOICE",
                uuid.UUID(int=41),
                "CB-2026-000041",
                "Invoice CB-2026-000041, 2026-10-01 to 2026-10-31",
                Decimal("119.00"),
                Decimal(0),
                Decimal("369.00"),
            ),
            Entry(
                date(2026, 11, 20),
                "PAYMENT",
                uuid.UUID(int=41),
                "CB-2026-000041",
                "Payment for invoice CB-2026-000041",
                Decimal(0),
                Decimal("200.00"),
                Decimal("169.00"),
            ),
            Entry(
                date(2026, 12, 1),
                "INVOICE",
                uuid.UUID(int=42),
                "CB-2026-000042",
                "Invoice CB-2026-000042, 2026-11-01 to 2026-11-30",
                Decimal("37.50"),
                Decimal(0),
                Decimal("206.50"),
            ),
        ],
        aging=Aging(
            current=Decimal("37.50"),
            days_1_30=Decimal("100.00"),
            days_31_60=Decimal("50.00"),
            days_61_90=Decimal("12.00"),
            over_90=Decimal("7.00"),
        ),
    )
    doc = StatementDocument(
        owner_type="Customer",
        owner_id=owner,
        seller=SELLER,
        buyer=BUYER,
        statement=statement,
        lines=[
            StatementLine(
                "CB-2026-000041", make_line(1), "CLOSED", date(2026, 11, 3), date(2026, 12, 3)
            ),
            StatementLine(
                "CB-2026-000042",
                make_line(1, id=uuid.UUID(int=101)),
                "OPEN",
                date(2026, 12, 1),
                date(2026, 12, 31),
            ),
        ],
    )
    return replace(doc, **overrides)
