"""Email messages rendered from Jinja2 templates: HTML (autoescaped) and plain text."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formataddr, parseaddr
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

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
        self, template: str, to: str, subject: str, sender_name: str | None = None, **data: Any
    ) -> EmailMessage:
        message = EmailMessage()
        name, address = parseaddr(self.sender)
        message["From"] = formataddr((sender_name or name, address))
        message["To"] = str(Address(addr_spec=to))
        message["Subject"] = subject
        context = {"subject": subject, **data}
        message.set_content(_templates.get_template(f"{template}.txt").render(context))
        message.add_alternative(
            _templates.get_template(f"{template}.html").render(context), subtype="html"
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
