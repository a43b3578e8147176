"""Email messages rendered from Jinja2 templates: HTML (autoescaped) and plain text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from notifications.branding import Branding

_templates = Environment(
    loader=PackageLoader("notifications", "templates"),
    autoescape=select_autoescape(["html"], default_for_string=False),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True, slots=True)
class Composer:
    """Turns an event and its data into a complete message from the configured sender."""

    sender: str  # "Name <address>"

    def compose(
        self,
        template: str,
        to: str,
        subject: str,
        sender_name: str | None = None,
        brand: Branding | None = None,
        **data: Any,
    ) -> EmailMessage:
        """A message from the configured address: a seller's ``brand`` gives the From name, the
        Reply-To, the logo (an inline image the HTML shows by Content-ID) and the links."""
        message = EmailMessage()
        name, address = parseaddr(self.sender)
        if brand is not None:
            sender_name = brand.sender_name or brand.name
        message["From"] = formataddr((sender_name or name, address))
        message["To"] = str(Address(addr_spec=to))
        if brand is not None and brand.reply_to:
            message["Reply-To"] = brand.reply_to
        message["Subject"] = subject
        logo_cid = make_msgid("logo", "channelbill")[1:-1] if brand and brand.logo else None
        context = {"subject": subject, "brand": brand, "logo_cid": logo_cid, **data}
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(
            _templates.get_template(f"{template}.html").render(context), subtype="html"
        )
        if logo_cid and brand is not None and brand.logo is not None:
            maintype, _, subtype = (brand.logo_content_type or "image/png").partition("/")
            html = message.get_body(("html",))
            assert html is not None
            html.add_related(
                brand.logo, maintype, subtype, cid=f"<{logo_cid}>", filename=f"logo.{subtype}"
            )
        return message

    def invitation(
        self,
        to: str,
        name: str,
        organisation: str,
        link: str,
        expires_at: datetime,
        invited_by: str | None,
    ) -> EmailMessage:
        return self.compose(
            "invitation",
            to,
            f"You are invited to {organisation} on channelbill",
            name=name,
            organisation=organisation,
            link=link,
            expires_at=expires_at.strftime("%Y-%m-%d %H:%M UTC"),
            invited_by=invited_by,
        )
