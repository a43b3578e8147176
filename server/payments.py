"""Which payment gateway this install charges through, from its settings."""

from __future__ import annotations

from db.database import Database
from payments.gateway import Gateway
from payments.sandbox import SandboxGateway
from payments.stripe_gateway import StripeGateway
from server.settings import Settings


def build_gateway(settings: Settings, db: Database) -> Gateway:
    """``sandbox`` (the default: in-process, its ledger in our database) or ``stripe``.

    Settings.validate has already refused ``stripe`` without a secret key; the assert keeps a
    Settings built by hand from reaching Stripe with none."""
    if settings.payment_gateway == "stripe":
        assert settings.stripe_secret_key, "PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY"
        return StripeGateway(
            settings.stripe_secret_key,
            api_base=settings.stripe_api_base,
            publishable_key=settings.stripe_publishable_key,
            js_url=settings.stripe_js_url,
        )
    return SandboxGateway(db)


async def close_gateway(gateway: Gateway) -> None:
    """Close the gateway's connections, if it keeps any (the Stripe client does)."""
    close = getattr(gateway, "aclose", None)
    if close is not None:
        await close()
