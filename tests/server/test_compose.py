"""The docker-compose stack as the app sees it: its environment, read by the same Settings the
server starts with, sends mail to the mailpit service over plain SMTP (mailpit speaks no TLS
and asks for no login). The delivery is tried against a real SMTP server of the same kind on
loopback, standing in for the mailpit container (no Docker daemon in the test run)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from notifications.branding import Branding
from notifications.dispatcher import envelope
from notifications.emails import Composer
from notifications.models import NotificationEvent
from server.mail import build_transport, describe_transport
from server.settings import Settings
from tests.notifications import SmtpServer, free_port

COMPOSE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
VARIABLE = re.compile(r"\$\{(\w+)(?:(:-|:\?)([^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """${NAME}, ${NAME:-default} and ${NAME:?error}, as docker compose reads them."""

    def one(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        if operator == ":?":
            raise AssertionError(f"compose requires {name}: {argument}")
        return argument or ""

    return VARIABLE.sub(one, value)


def compose_environment(env: dict[str, str]) -> dict[str, str]:
    app: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]["app"]
    return {key: interpolate(str(value), env) for key, value in app["environment"].items()}


def test_the_compose_app_sends_its_mail_to_mailpit():
    stack = yaml.safe_load(COMPOSE.read_text())["services"]
    settings = Settings.from_env(compose_environment({"CHANNELBILL_SECRET_KEY": "k" * 48}))

    assert describe_transport(settings) == "smtp://mailpit:1025 (no TLS)"
    assert settings.outbox_dispatch is True  # the server sends what it queues
    assert "mailpit" in stack["app"]["depends_on"]
    assert {"1025:1025", "8025:8025"} <= set(stack["mailpit"]["ports"])


async def test_mail_reaches_a_plain_smtp_server_with_the_compose_settings():
    smtp = SmtpServer(free_port())
    smtp.start()
    try:
        env = compose_environment({"CHANNELBILL_SECRET_KEY": "k" * 48})
        # the one difference: where the mailpit container listens
        env |= {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(smtp.port)}
        settings = Settings.from_env(env)
        message = Composer(settings.mail_from, settings.platform_name).sample(
            NotificationEvent.INVOICE_POSTED,
            "reseller@example.org",
            Branding(name=settings.platform_name),
            recipient_name="Reseller",
            organisation="Example Reseller",
            currency="EUR",
            invoice_prefix="CB",
            today=date(2026, 11, 22),
        )
        await build_transport(settings).send(*envelope(bytes(message)))
    finally:
        smtp.stop()
    [received] = smtp.inbox.messages()
    assert received.mail_from == "billing@localhost"
    assert received.rcpt_tos == ["reseller@example.org"]
    assert received.message["Subject"].startswith("[Test] Invoice CB-2026-000042")
