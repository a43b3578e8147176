"""The payment gateway the settings name."""

from __future__ import annotations

from db.database import Database
from payments.gateway import Gateway
from payments.sandbox import SandboxGateway
from server.settings import Settings, SettingsError


def build_gateway(settings: Settings, db: Database) -> Gateway:
    if settings.payment_gateway == "sandbox":
        return SandboxGateway(db)
    raise SettingsError(f"PAYMENT_GATEWAY={settings.payment_gateway} is not available")
