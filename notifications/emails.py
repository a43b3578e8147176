"""Email messages rendered from Jinja2 templates: HTML (autoescaped) and plain text, branded as
their seller. One method per kind of message, each with the subject a reader expects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from core.currency import format_money
from notifications.branding import Branding
from notifications.models import NotificationEvent
from notifications.wire import MAIL_POLICY

_templates = Environment(
    loader=PackageLoader("notifications", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)

INVOICE_EVENTS = frozenset(
    {
        NotificationEvent.INVOICE_POSTED,
        NotificationEvent.INVOICE_PAID,
        NotificationEvent.INVOICE_VOIDED,
    }
)
ACCOUNT_EVENTS = frozenset(
    {NotificationEvent.ACCOUNT_DEACTIVATED, NotificationEvent.ACCOUNT_REACTIVATED}
)
TEST_PREFIX = "[Test] "


def amount(value: Decimal, currency: str) -> str:
    """1234.5, "EUR" -> "€1,234.50": how subjects and bodies state a sum, as the invoice PDF and
    the API's Money.formatted write it (core.currency.format_money)."""
    return format_money(value, currency)


@dataclass(frozen=True, slots=True)
class InvoiceFacts:
    """What a message about an invoice says of it."""

    seller: str
    buyer: str
    label: str  # the number once posted, else the document id
    period_start: date
    period_end: date
    currency: str
    total: Decimal
    amount_due: Decimal
    due_date: date | None = None

    def context(self) -> dict[str, Any]:
        return {
            "buyer": self.buyer,
            "seller": self.seller,
            "number": self.label,
            "period": f"{self.period_start.isoformat()} to {self.period_end.isoformat()}",
            "total": amount(self.total, self.currency),
            "amount_due": amount(self.amount_due, self.currency),
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }

    def subject(self, event: NotificationEvent) -> str:
        if event is NotificationEvent.INVOICE_POSTED:
            due = f" due {self.due_date.isoformat()}" if self.due_date else ""
            return (
                f"Invoice {self.label} from {self.seller} \u2014 "
                f"{amount(self.amount_due, self.currency)}{due}"
            )
        if event is NotificationEvent.INVOICE_PAID:
            return (
                f"Receipt for invoice {self.label} from {self.seller} \u2014 "
                f"{amount(self.total, self.currency)} paid"
            )
        if event is NotificationEvent.INVOICE_VOIDED:
            return f"Invoice {self.label} from {self.seller} was cancelled"
        if event is NotificationEvent.PAYMENT_FAILED:
            return (
                f"Payment of {amount(self.amount_due, self.currency)} for invoice {self.label}"
                f" to {self.seller} failed"
            )
        raise ValueError(f"{event} is not about an invoice")


@dataclass(frozen=True, slots=True)
class Composer:
    """Turns an event and its data into a complete message from the configured sender."""

    sender: str  # "Name <address>"
    platform_name: str = "channelbill"

    def compose(
        self,
        template: str,
        to: str,
        subject: str,
        brand: Branding,
        **data: Any,
    ) -> EmailMessage:
        """A message from the configured address, as ``brand``: its From name, its Reply-To, its
        logo (an inline image the HTML shows by Content-ID), its links and address."""
        message = EmailMessage(policy=MAIL_POLICY)
        _, address = parseaddr(self.sender)
        message["From"] = formataddr((brand.sender_name or brand.name, address))
        message["To"] = str(Address(addr_spec=to))
        if brand.reply_to:
            message["Reply-To"] = brand.reply_to
        message["Subject"] = subject
        logo_cid = make_msgid("logo", "channelbill")[1:-1] if brand.logo else None
        context = {
            "subject": subject,
            "brand": brand,
            "logo_cid": logo_cid,
            "platform": self.platform_name,
            **data,
        }
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(
            _templates.get_template(f"{template}.html").render(context), subtype="html"
        )
        if logo_cid and brand.logo is not None:
            maintype, _, subtype = (brand.logo_content_type or "image/png").partition("/")
            html = message.get_body(("html",))
            assert html is not None
            html.add_related(
                brand.logo, maintype, subtype, cid=f"<{logo_cid}>", filename=f"logo.{subtype}"
            )
        return message

    def invoice(
        self,
        event: NotificationEvent,
        to: str,
        brand: Branding,
        invoice: InvoiceFacts,
        *,
        attached: bool = False,
        prefix: str = "",
    ) -> EmailMessage:
        """Invoice posted, paid (a receipt) or voided; ``attached`` says the PDF comes along."""
        if event not in INVOICE_EVENTS:
            raise ValueError(f"{event} is not an invoice status change")
        return self.compose(
            event.lower(),
            to,
            prefix + invoice.subject(event),
            brand,
            attached=attached,
            **invoice.context(),
        )

    def payment_failed(
        self,
        to: str,
        brand: Branding,
        invoice: InvoiceFacts,
        *,
        reason: str,
        card: str | None,
        retry_at: str | None,
        update_card_url: str | None = None,
        prefix: str = "",
    ) -> EmailMessage:
        """A charge was declined: why, with which card, and when it is tried again (None: it
        was the last try)."""
        return self.compose(
            "payment_failed",
            to,
            prefix + invoice.subject(NotificationEvent.PAYMENT_FAILED),
            brand,
            reason=reason,
            card=card,
            retry_at=retry_at,
            card_link=update_card_url or brand.control_panel_url,
            **invoice.context(),
        )

    def account(
        self,
        event: NotificationEvent,
        to: str,
        brand: Branding,
        *,
        buyer: str,
        amount_due: str | None = None,
        update_card_url: str | None = None,
        prefix: str = "",
    ) -> EmailMessage:
        """The buyer's account was deactivated (with what is unpaid) or reactivated."""
        if event not in ACCOUNT_EVENTS:
            raise ValueError(f"{event} is not an account status change")
        if event is NotificationEvent.ACCOUNT_DEACTIVATED:
            subject = f"Your {brand.name} account is deactivated"
            if amount_due:
                subject += f" \u2014 {amount_due} unpaid"
        else:
            subject = f"Your {brand.name} account is active again"
        return self.compose(
            event.lower(),
            to,
            prefix + subject,
            brand,
            buyer=buyer,
            amount_due=amount_due,
            card_link=update_card_url or brand.control_panel_url,
        )

    def invitation(
        self,
        to: str,
        brand: Branding,
        *,
        name: str,
        organisation: str,
        link: str,
        expires_at: datetime,
        invited_by: str | None,
        prefix: str = "",
    ) -> EmailMessage:
        """A one-time link to set a password, from the platform (``brand``) to a new user."""
        return self.compose(
            "invitation",
            to,
            f"{prefix}You are invited to {organisation} on {brand.name}",
            brand,
            name=name,
            organisation=organisation,
            link=link,
            expires_at=expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            invited_by=invited_by,
        )

    def webhook_disabled(
        self,
        to: str,
        brand: Branding,
        *,
        organisation: str,
        url: str,
        reason: str,
        prefix: str = "",
    ) -> EmailMessage:
        """To a reseller's OWNER: one of its webhook endpoints was disabled, and why."""
        return self.compose(
            "webhook_disabled",
            to,
            f"{prefix}A webhook endpoint of {organisation} was disabled",
            brand,
            organisation=organisation,
            url=url,
            reason=reason,
        )

    def sample(
        self,
        event: NotificationEvent,
        to: str,
        brand: Branding,
        *,
        recipient_name: str,
        organisation: str,
        currency: str,
        invoice_prefix: str,
        today: date,
    ) -> EmailMessage:
        """A preview of ``event``'s message with made-up data, as ``brand`` sends it; the
        subject starts with [Test]. ``organisation``: whom an invitation invites to."""
        due = today + timedelta(days=30)
        invoice = InvoiceFacts(
            seller=organisation,
            buyer="Example Customer Ltd",
            label=f"{invoice_prefix}-{today.year}-000042",
            period_start=today.replace(day=1),
            period_end=today,
            currency=currency,
            total=Decimal("1234.50"),
            amount_due=Decimal("1234.50"),
            due_date=due,
        )
        if event in INVOICE_EVENTS:
            return self.invoice(event, to, brand, invoice, attached=False, prefix=TEST_PREFIX)
        if event is NotificationEvent.PAYMENT_FAILED:
            return self.payment_failed(
                to,
                brand,
                invoice,
                reason="the card was declined",
                card="Visa ending in 4242",
                retry_at=f"{(today + timedelta(days=1)).isoformat()} 19:00",
                prefix=TEST_PREFIX,
            )
        if event in ACCOUNT_EVENTS:
            return self.account(
                event,
                to,
                brand,
                buyer=invoice.buyer,
                amount_due=amount(invoice.amount_due, currency),
                prefix=TEST_PREFIX,
            )
        if event is NotificationEvent.WEBHOOK_DISABLED:
            return self.webhook_disabled(
                to,
                brand,
                organisation=organisation,
                url="https://hooks.example.com/channelbill",
                reason="it answered 503 Service Unavailable to every attempt for three days",
                prefix=TEST_PREFIX,
            )
        return self.invitation(
            to,
            brand,
            name=recipient_name,
            organisation=organisation,
            link=f"{(brand.control_panel_url or 'https://example.com').rstrip('/')}/activate#token=sample",
            expires_at=datetime.combine(today + timedelta(days=7), datetime.min.time()),
            invited_by=None,
            prefix=TEST_PREFIX,
        )
