"""Who bills a customer portal's customer, as the portal page shows it: the reseller's name and
the branding its emails carry (logo, sender name, website, reply-to address, postal address).

A portal may not read its reseller's profile or settings (tenant data); this is the part of them
a customer already sees on every invoice and email, and nothing billing-sensitive.
"""

from __future__ import annotations

import strawberry

from notifications.branding import branding_of
from schema.context import Info
from schema.notification_settings import data_uri


@strawberry.type(description="The seller of a customer portal's customer, as its emails show it.")
class PortalSeller:
    name: str = strawberry.field(description="The reseller's name.")
    sender_name: str | None = strawberry.field(description="The name its emails are sent as.")
    logo_data_uri: str | None = strawberry.field(description="Its logo as a data: URI.")
    website_url: str | None = strawberry.field(description="Its website.")
    reply_to: str | None = strawberry.field(description="Where the customer may write to it.")
    address_lines: list[str] = strawberry.field(description="Its postal address, line by line.")


async def portal_seller(info: Info) -> PortalSeller | None:
    """The seller of the calling portal's customer; None for any other caller."""
    principal = info.context.principal
    if principal is None or principal.customer_id is None or principal.reseller_id is None:
        return None
    reseller = await info.context.loaders.reseller_by_id.load(principal.reseller_id)
    if reseller is None:
        return None
    async with info.context.read() as session:
        brand = await branding_of(session, reseller.id, reseller.name)
    return PortalSeller(
        name=brand.name,
        sender_name=brand.sender_name,
        logo_data_uri=data_uri(brand.logo, brand.logo_content_type),
        website_url=brand.website_url,
        reply_to=brand.reply_to,
        address_lines=brand.address_lines,
    )
