"""Demo data for the embedded default: loaded once, on a database that has no platform admin yet.

It is a month of billing, always the month before today: a catalog (two vendors, recurring and
usage products, MSRP and cost in a few currencies, exchange rates), two resellers with users,
customers, their own prices, subscriptions (some starting or ending inside the month, so proration
shows) and usage; last month's invoices of both resellers (posted, one paid, one void, one still a
draft) and the platform's wholesale invoices to them, posted. Everything goes through the services
the API calls, so what the demo shows is what the product does.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from PIL import Image, ImageDraw
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from auth.passwords import hash_password
from billing.catalog import Catalog, NewPrice, NewProduct
from billing.generation import BillingRun, RunRequest
from billing.lifecycle import BillingPolicy, InvoiceLifecycle, define_custom_field
from billing.models import (
    FieldType,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    PaymentMethodKind,
    ProductKind,
)
from billing.prices import NewOverride, set_price
from billing.subscriptions import NewSubscription, NewUsage, create_subscription, record_usage
from core.clock import utcnow
from core.ids import new_id
from db.database import Database
from db.scope import TenantScope
from jobs.runner import JobRunner
from notifications.emails import Composer
from notifications.settings import SettingsChange, update_settings
from payments.schedule import RetryPolicy
from payments.service import PaymentServices
from server.payments import build_gateway
from server.settings import Settings
from tenants import services
from tenants.audit import Actor
from tenants.models import Customer, PlatformAdmin, Role, User, UserStatus
from tenants.repositories import PlatformAdminRepository

log = logging.getLogger("channelbill.demo")

PLATFORM_ADMIN = "admin@example.com"
RESELLERS = [
    {
        "name": "Acme Cloud",
        "slug": "acme",
        "domain": "acme.example",
        "currency": "EUR",
        "timezone": "Europe/Berlin",
        "customers": [
            ("Northwind Traders", "billing@northwind.example", "EUR", "19"),
            ("Contoso Pharmaceuticals", "ap@contoso.example", "EUR", "19"),
            ("Fabrikam Logistics", "finance@fabrikam.example", "GBP", "20"),
            ("Tailspin Toys", "accounts@tailspin.example", "USD", "0"),
        ],
    },
    {
        "name": "Globex IT",
        "slug": "globex",
        "domain": "globex.example",
        "currency": "USD",
        "timezone": "America/New_York",
        "customers": [
            ("Initech", "billing@initech.example", "USD", "8.875"),
            ("Umbrella Health", "ap@umbrella.example", "USD", "0"),
            ("Soylent Foods", "finance@soylent.example", "EUR", "21"),
        ],
    },
]

# sku: vendor, name, unit, kind, [(currency, msrp, cost)]; the first currency is the base one.
PRODUCTS: dict[str, tuple[str, str, str, ProductKind, list[tuple[str, str, str]]]] = {
    "MS-M365-BP": (
        "Microsoft",
        "Microsoft 365 Business Premium",
        "seat",
        ProductKind.RECURRING,
        [("USD", "22.00", "17.60"), ("EUR", "20.60", "16.50"), ("GBP", "18.10", "14.50")],
    ),
    "MS-TEAMS-ESS": (
        "Microsoft",
        "Microsoft Teams Essentials",
        "seat",
        ProductKind.RECURRING,
        [("USD", "4.00", "3.20")],  # EUR and GBP buyers pay the USD price converted
    ),
    "MS-AZURE-CU": (
        "Microsoft",
        "Azure consumption",
        "unit",
        ProductKind.USAGE,
        [("USD", "1.00", "0.85"), ("EUR", "0.93", "0.79")],
    ),
    "AWS-SUPPORT-BIZ": (
        "AWS",
        "AWS Business Support",
        "account",
        ProductKind.RECURRING,
        [("USD", "100.00", "80.00"), ("EUR", "95.00", "75.00")],
    ),
    "AWS-S3-GB": (
        "AWS",
        "Amazon S3 Standard storage",
        "GB",
        ProductKind.USAGE,
        [("USD", "0.023", "0.019")],
    ),
    "AWS-EC2-M5L": (
        "AWS",
        "Amazon EC2 m5.large",
        "hour",
        ProductKind.USAGE,
        [("USD", "0.096", "0.080"), ("EUR", "0.090", "0.075")],
    ),
}
# base, quote, rate: published on the first day of the demo month and again today.
RATES = [
    ("USD", "EUR", "0.92", "0.93"),
    ("USD", "GBP", "0.79", "0.78"),
    ("EUR", "USD", "1.09", "1.08"),
]

# customer: [(sku, quantity, first day, last day)], days counted in the demo month (1 = its
# first day, None = open-ended; 0 and below = before the month began).
SUBSCRIPTIONS: dict[str, list[tuple[str, int, int, int | None]]] = {
    "Northwind Traders": [("MS-M365-BP", 25, -60, None), ("MS-TEAMS-ESS", 10, 15, None)],
    "Contoso Pharmaceuticals": [
        ("MS-M365-BP", 40, -200, None),
        ("MS-TEAMS-ESS", 8, -30, 10),
        ("AWS-SUPPORT-BIZ", 1, -90, None),
    ],
    "Fabrikam Logistics": [("MS-M365-BP", 12, 11, None)],
    "Tailspin Toys": [("AWS-SUPPORT-BIZ", 1, -20, None)],
    "Initech": [("MS-M365-BP", 50, -120, None), ("MS-TEAMS-ESS", 50, -120, None)],
    "Umbrella Health": [("AWS-SUPPORT-BIZ", 1, -45, None)],
    "Soylent Foods": [("MS-M365-BP", 8, -300, 20)],
}
# customer: [(sku, quantity per record, days of the month it was measured on)]
USAGE: dict[str, list[tuple[str, str, Sequence[int]]]] = {
    "Northwind Traders": [("MS-AZURE-CU", "42.5", (3, 10, 17, 24))],
    "Contoso Pharmaceuticals": [("AWS-S3-GB", "1250", (1, 15))],
    "Fabrikam Logistics": [("AWS-EC2-M5L", "24", (12, 13, 14, 15, 16))],
    "Tailspin Toys": [("AWS-S3-GB", "800", (5, 20)), ("AWS-EC2-M5L", "72", (8,))],
    "Initech": [("MS-AZURE-CU", "310", (7, 21))],
    "Umbrella Health": [("AWS-EC2-M5L", "168", (1, 8, 15, 22))],
    "Soylent Foods": [("AWS-S3-GB", "400", (9,))],
}
# What became of last month's retail invoices, by customer and vendor: the rest are posted.
CLOSED = {("Northwind Traders", "Microsoft")}
VOIDED = {("Contoso Pharmaceuticals", "AWS")}
DRAFT = {("Tailspin Toys", "AWS")}
NOTIFIED = ("Contoso Pharmaceuticals", "Microsoft")  # the one posting that emails its buyer
# The resellers' cards for their bills from the platform (the sandbox's test tokens): Acme's
# pays, Globex's saved card now declines every charge.
CARDS = {"Acme Cloud": "pm_card_visa", "Globex IT": "pm_card_chargeCustomerFail"}
PARTLY_PAID = ("Fabrikam Logistics", "Microsoft")  # half paid by bank transfer
PO_NUMBERS = {
    ("Northwind Traders", "Microsoft"): "PO-4711",
    ("Contoso Pharmaceuticals", "Microsoft"): "CON-2026-118",
    ("Fabrikam Logistics", "Microsoft"): "FAB-0042",
}


def demo_month(today: date) -> tuple[date, date]:
    """The calendar month before ``today``: the month the demo bills."""
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def logo_png(text: str, colour: tuple[int, int, int]) -> bytes:
    """A small logo drawn at seed time: a coloured badge with the reseller's name."""
    image = Image.new("RGB", (240, 64), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    draw.rounded_rectangle((4, 4, 60, 60), radius=12, fill=colour)
    draw.text((24, 22), text[:1], fill=(255, 255, 255))
    draw.text((72, 26), text, fill=colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


@dataclass
class _Seeded:
    """Ids of what was made, by name, for the steps that follow."""

    products: dict[str, uuid.UUID] = field(default_factory=dict)
    vendors: dict[uuid.UUID, str] = field(default_factory=dict)
    customers: dict[str, Customer] = field(default_factory=dict)
    resellers: dict[str, uuid.UUID] = field(default_factory=dict)


async def seed_demo(db: Database, settings: Settings, today: date | None = None) -> bool:
    """Returns whether anything was loaded (False when the database already has data)."""
    system = TenantScope.system()
    today = today or utcnow().date()
    first, last = demo_month(today)
    async with db.write(system) as session:
        if await PlatformAdminRepository(session).exists():
            return False
        seeded = _Seeded()
        password_hash = hash_password(settings.demo_password)
        session.add(
            PlatformAdmin(
                id=new_id(),
                email=PLATFORM_ADMIN,
                name="Platform Admin",
                password_hash=password_hash,
                status=UserStatus.ACTIVE,
            )
        )
        await _catalog(session, seeded, first, today)
        for spec in RESELLERS:
            await _reseller(session, seeded, spec, password_hash)
        await _prices(session, seeded)
        await _subscriptions_and_usage(session, seeded, first, last)
        await _branding(session, seeded)
        await _invoices(session, seeded, settings, first, last)
    await _payments(db, settings, seeded)
    log.info("demo data loaded: billing of %s to %s", first, last)
    return True


async def _payments(db: Database, settings: Settings, seeded: _Seeded) -> None:
    """Cards on file, and autopay of the platform's posted invoices run once, now: Acme's card
    pays, Globex's is declined (PAST_DUE, retried this evening, its owner emailed). One of
    Acme's customers paid half its invoice by bank transfer."""
    composer = Composer(settings.mail_from, settings.platform_name)
    lifecycle = InvoiceLifecycle(
        composer,
        BillingPolicy(
            platform_name=settings.platform_name,
            platform_prefix=settings.platform_invoice_prefix,
            payment_terms_days=settings.payment_terms_days,
        ),
    )
    payments = PaymentServices.build(
        db,
        build_gateway(settings, db),
        lifecycle,
        composer,
        policy=RetryPolicy(retries=settings.payment_retries, hour=settings.payment_retry_hour),
        platform_name=settings.platform_name,
        card_url=f"{settings.base_url}/billing/card",
    )
    owner = Actor.system()
    for name, token in CARDS.items():
        await payments.cards.update(seeded.resellers[name], token, owner)
    await JobRunner(db, payments.job_handlers()).run_due()
    acme = seeded.resellers["Acme Cloud"]
    async with db.write(TenantScope.tenant(acme)) as session:
        customer, vendor = PARTLY_PAID
        invoice = await session.scalar(
            select(Invoice).where(
                Invoice.reseller_id == acme,
                Invoice.customer_id == seeded.customers[customer].id,
                Invoice.vendor_id.in_([v for v, n in seeded.vendors.items() if n == vendor]),
                Invoice.status == InvoiceStatus.OPEN,
            )
        )
        if invoice is not None:
            half = (invoice.total / 2).quantize(Decimal("0.01"))
            await payments.recorded.record(
                session,
                TenantScope.tenant(acme),
                owner,
                invoice.id,
                amount=half,
                currency=None,
                method=PaymentMethodKind.BANK_TRANSFER,
                reference="TRF 2026-0042",
                received_at=None,
            )


async def _catalog(session: AsyncSession, seeded: _Seeded, first: date, today: date) -> None:
    catalog = Catalog(session)
    vendors: dict[str, uuid.UUID] = {}
    for sku, (vendor, name, unit, kind, prices) in PRODUCTS.items():
        if vendor not in vendors:
            vendors[vendor] = (await catalog.create_vendor(vendor)).id
            seeded.vendors[vendors[vendor]] = vendor
        product = await catalog.create_product(
            NewProduct(
                vendor_id=vendors[vendor],
                sku=sku,
                name=name,
                unit=unit,
                kind=kind,
                base_currency=prices[0][0],
                prices=[NewPrice(c, Decimal(m), Decimal(k)) for c, m, k in prices],
            )
        )
        seeded.products[sku] = product.id
    for base, quote, then, now in RATES:
        await catalog.set_exchange_rate(base, quote, Decimal(then), first)
        await catalog.set_exchange_rate(base, quote, Decimal(now), today)


async def _reseller(
    session: AsyncSession, seeded: _Seeded, spec: dict[str, object], password_hash: str
) -> None:
    domain = spec["domain"]
    reseller, owner = await services.create_reseller(
        session,
        services.NewReseller(
            name=str(spec["name"]),
            currency=str(spec["currency"]),
            owner_email=f"owner@{domain}",
            owner_name=f"{spec['name']} Owner",
            slug=str(spec["slug"]),
            timezone=str(spec["timezone"]),
        ),
    )
    seeded.resellers[str(spec["name"])] = reseller.id
    owner.status, owner.password_hash = UserStatus.ACTIVE, password_hash
    for role, local in ((Role.ADMIN, "admin"), (Role.MEMBER, "member")):
        session.add(
            User(
                reseller_id=reseller.id,
                id=new_id(),
                email=f"{local}@{domain}",
                name=f"{spec['name']} {role.value.title()}",
                role=role,
                billing_access=False,
                status=UserStatus.ACTIVE,
                password_hash=password_hash,
            )
        )
    scope = TenantScope.tenant(reseller.id)
    for name, email, currency, tax in spec["customers"]:  # type: ignore[attr-defined]
        seeded.customers[name] = await services.create_customer(
            session,
            scope,
            services.NewCustomer(name=name, email=email, currency=currency, tax_rate=Decimal(tax)),
        )
    await define_custom_field(
        session, scope, Actor.system(), reseller.id, "po_number", "PO number", FieldType.TEXT, False
    )


async def _prices(session: AsyncSession, seeded: _Seeded) -> None:
    """Acme sells Microsoft 365 at cost plus 30 %, and Northwind has a deal of its own."""
    acme = TenantScope.tenant(seeded.resellers["Acme Cloud"])
    m365 = seeded.products["MS-M365-BP"]
    await set_price(session, acme, NewOverride(m365, "EUR", markup_percent=Decimal("30")))
    northwind = seeded.customers["Northwind Traders"].id
    await set_price(session, acme, NewOverride(m365, "EUR", northwind, price=Decimal("19.90")))
    globex = TenantScope.tenant(seeded.resellers["Globex IT"])
    support = seeded.products["AWS-SUPPORT-BIZ"]
    await set_price(session, globex, NewOverride(support, "USD", price=Decimal("110.00")))


async def _subscriptions_and_usage(
    session: AsyncSession, seeded: _Seeded, first: date, last: date
) -> None:
    for name, subscriptions in SUBSCRIPTIONS.items():
        customer = seeded.customers[name]
        scope = TenantScope.tenant(customer.reseller_id)
        for sku, quantity, start, end in subscriptions:
            await create_subscription(
                session,
                scope,
                NewSubscription(
                    customer.id,
                    seeded.products[sku],
                    quantity,
                    first + timedelta(days=start - 1),
                    None if end is None else first + timedelta(days=end - 1),
                ),
            )
    for name, uses in USAGE.items():
        customer = seeded.customers[name]
        batch = [
            NewUsage(
                customer.id,
                seeded.products[sku],
                Decimal(quantity),
                # noon UTC is the same day in every demo time zone
                datetime.combine(first + timedelta(days=day - 1), time(12), UTC),
                reference=f"demo-{sku.lower()}-{day}",
            )
            for sku, quantity, days in uses
            for day in days
            if first + timedelta(days=day - 1) <= last
        ]
        await record_usage(session, TenantScope.tenant(customer.reseller_id), batch)


async def _branding(session: AsyncSession, seeded: _Seeded) -> None:
    """Acme brands what its customers get; Globex leaves it to the platform's defaults."""
    await update_settings(
        session,
        seeded.resellers["Acme Cloud"],
        SettingsChange(
            logo=logo_png("Acme Cloud", (37, 99, 235)),
            sender_name="Acme Cloud Billing",
            reply_to="billing@acme.example",
            control_panel_url="https://panel.acme.example",
            website_url="https://acme.example",
            address="Acme Cloud GmbH\nFriedrichstrasse 68\n10117 Berlin\nGermany",
        ),
    )


async def _invoices(
    session: AsyncSession, seeded: _Seeded, settings: Settings, first: date, last: date
) -> None:
    """Last month's billing run, retail then wholesale, and what became of each invoice."""
    system, actor = TenantScope.system(), Actor.system()
    lifecycle = InvoiceLifecycle(
        Composer(settings.mail_from, settings.platform_name),
        BillingPolicy(
            platform_name=settings.platform_name,
            platform_prefix=settings.platform_invoice_prefix,
            payment_terms_days=settings.payment_terms_days,
        ),
    )
    run = BillingRun(session, system, actor, settings.platform_name)
    retail = await run.run(RunRequest(first, last, kind=InvoiceKind.RETAIL))
    wholesale = await run.run(RunRequest(first, last, kind=InvoiceKind.WHOLESALE))
    names = {c.id: name for name, c in seeded.customers.items()}
    invoices = (
        await session.scalars(
            select(Invoice)
            .where(Invoice.id.in_(retail.created + wholesale.created))
            .order_by(Invoice.reseller_id, Invoice.customer_id, Invoice.vendor_id)
        )
    ).all()
    for invoice in invoices:
        if invoice.kind is InvoiceKind.WHOLESALE:
            await lifecycle.update_status(
                session, system, actor, invoice.id, InvoiceStatus.OPEN, notify=False
            )
            continue
        key = (names[invoice.customer_id], seeded.vendors[invoice.vendor_id])  # type: ignore[index]
        if key in PO_NUMBERS:
            await lifecycle.set_custom_fields(
                session, system, actor, invoice.id, [("po_number", PO_NUMBERS[key])]
            )
        if key in DRAFT:
            continue
        await lifecycle.update_status(
            session, system, actor, invoice.id, InvoiceStatus.OPEN, notify=key == NOTIFIED
        )
        if key in CLOSED:
            await lifecycle.update_status(
                session, system, actor, invoice.id, InvoiceStatus.CLOSED, notify=False
            )
        elif key in VOIDED:
            await lifecycle.update_status(
                session, system, actor, invoice.id, InvoiceStatus.VOID, notify=False
            )
