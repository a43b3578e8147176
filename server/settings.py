"""Settings, read once from the environment (every one is listed in the README)."""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

# The signing key of a development install that names none: random, made on first start and kept
# in its data directory, so that no two installs (and nobody reading this repository) share one.
DEV_KEY_FILE = "secret_key"
DEMO = "channelbill-demo"  # the documented demo password
STRIPE_JS_URL = "https://js.stripe.com/v3/"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/channelbill.sqlite3"
ENVIRONMENTS = ("development", "test", "production")
MAX_SETTING = 10**12  # no setting is a larger number: a bigger one is a typo


class SettingsError(ValueError):
    """The environment describes a configuration the server refuses to run with."""


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    environment: str = "development"
    database_url: str = DEFAULT_DATABASE_URL
    migration_database_url: str | None = None
    secret_key: str = field(default="", repr=False)
    issuer: str = "channelbill"
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = None
    access_token_ttl_seconds: int = 15 * 60
    refresh_token_ttl_seconds: int = 30 * 24 * 3600
    migrate_on_start: bool = True
    seed_demo: bool = False
    demo_password: str = DEMO
    data_dir: Path = Path("data")
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_starttls: bool = True
    smtp_timeout_seconds: float = 30.0
    mail_from: str = "channelbill <billing@localhost>"
    outbox_dispatch: bool = True
    outbox_poll_seconds: float = 1.0
    outbox_max_attempts: int = 8
    outbox_retry_seconds: float = 30.0
    invitation_ttl_hours: int = 7 * 24
    control_panel_url: str | None = None
    oauth_allow_http: bool = True
    db_pool_size: int = 10
    platform_name: str = "channelbill"
    platform_invoice_prefix: str = "CB"
    payment_terms_days: int = 30
    cors_origins: tuple[str, ...] = ()
    subscriptions_per_connection: int = 10  # GraphQL subscriptions open on one WebSocket
    subscription_streams_per_caller: int = 20  # a caller's open subscriptions, per process
    max_body_bytes: int = 1024 * 1024
    max_upload_bytes: int = 2 * 1024 * 1024  # multipart: a 512 KB logo, or one too big to take
    query_cost_limit: int = 25_000
    cost_budget: float = 100_000.0
    cost_restore_rate: float = 5_000.0
    request_timeout_seconds: float = 30.0
    db_statement_timeout_seconds: float = 30.0
    db_pool_timeout_seconds: float = 2.0
    trusted_documents: Path | None = None  # JSON {sha256: document}: only those may run
    payment_gateway: str = "sandbox"  # or "stripe"
    stripe_secret_key: str | None = field(default=None, repr=False)
    stripe_publishable_key: str | None = None
    stripe_webhook_secret: str | None = field(default=None, repr=False)
    stripe_api_base: str | None = None  # a local Stripe-compatible server (tests)
    stripe_js_url: str = STRIPE_JS_URL  # Stripe.js for the card page (a local one in tests)
    payment_retries: int = 3
    payment_retry_hour: int = 20
    jobs_run: bool = True  # run due jobs in this process (set false where workers run them)
    jobs_poll_seconds: float = 1.0
    pdf_workers: int | None = None  # processes drawing PDFs; None: one per CPU, 0: a thread
    graphql_fast_path: bool = True  # plain fields read without graphql-core's per-field path
    graphql_compiled: bool = True  # known selections answered by generated builders
    events_retention_days: int = 90  # the event log keeps this many days
    webhooks_allow_private_targets: bool = False  # loopback and http (development's default)

    @property
    def development(self) -> bool:
        return self.environment == "development"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def activation_url(self) -> str:
        """Where an invitation link points (``…/activate#token=…``): the control panel's page
        that calls activateUser; this server's own /activate page when none is set."""
        return f"{(self.control_panel_url or self.base_url).rstrip('/')}/activate"

    @property
    def outbox_dir(self) -> Path:
        """Where the file transport writes .eml files when no SMTP server is configured."""
        return self.data_dir / "outbox"

    @property
    def owner_database_url(self) -> str:
        """Migrations run as the owner role; on SQLite there is only one."""
        return self.migration_database_url or self.database_url

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]

    def validate(self) -> Settings:
        if self.environment not in ENVIRONMENTS:
            raise SettingsError(f"CHANNELBILL_ENV must be one of {', '.join(ENVIRONMENTS)}")
        if not self.secret_key:
            raise SettingsError("CHANNELBILL_SECRET_KEY must be set outside development")
        if self.environment == "production" and self.seed_demo and self.demo_password == DEMO:
            raise SettingsError("CHANNELBILL_DEMO_PASSWORD must be changed to seed demo data")
        if self.outbox_max_attempts < 1 or self.outbox_retry_seconds <= 0:
            raise SettingsError("OUTBOX_MAX_ATTEMPTS and OUTBOX_RETRY_SECONDS must be positive")
        if len(self.secret_key.encode()) < 32:
            raise SettingsError("CHANNELBILL_SECRET_KEY must be at least 32 bytes")
        if self.max_body_bytes < 1 or self.max_upload_bytes < 1:
            raise SettingsError("MAX_BODY_BYTES and MAX_UPLOAD_BYTES must be positive")
        if self.query_cost_limit < 1 or self.cost_budget < 0:
            raise SettingsError("QUERY_COST_LIMIT must be positive, COST_BUDGET not negative")
        if self.cost_budget and (
            self.cost_restore_rate <= 0 or self.cost_budget < self.query_cost_limit
        ):
            raise SettingsError(
                "COST_RESTORE_RATE must be positive and COST_BUDGET at least QUERY_COST_LIMIT"
            )
        if min(self.request_timeout_seconds, self.db_pool_timeout_seconds) <= 0:
            raise SettingsError("REQUEST_TIMEOUT_SECONDS, DB_POOL_TIMEOUT_SECONDS must be positive")
        if self.db_statement_timeout_seconds < 0:
            raise SettingsError("DB_STATEMENT_TIMEOUT_SECONDS must not be negative")
        if self.payment_gateway not in {"sandbox", "stripe"}:
            raise SettingsError("PAYMENT_GATEWAY must be sandbox or stripe")
        if self.payment_gateway == "stripe" and not self.stripe_secret_key:
            raise SettingsError("PAYMENT_GATEWAY=stripe needs STRIPE_SECRET_KEY")
        if urlsplit(self.stripe_js_url).scheme not in {"http", "https"}:
            # The card page's CSP allows the script's origin: it must have one.
            raise SettingsError("STRIPE_JS_URL must be an http(s) URL")
        if not 0 <= self.payment_retries <= 10:
            raise SettingsError("PAYMENT_RETRIES must be between 0 and 10")
        if not 0 <= self.payment_retry_hour <= 23:
            raise SettingsError("PAYMENT_RETRY_HOUR must be an hour of the day, 0 to 23")
        if self.jobs_poll_seconds <= 0:
            raise SettingsError("JOBS_POLL_SECONDS must be positive")
        if not 1 <= self.events_retention_days <= 3650:
            raise SettingsError("EVENTS_RETENTION_DAYS must be between 1 and 3650")
        if self.pdf_workers is not None and not 0 <= self.pdf_workers <= 64:
            raise SettingsError("PDF_WORKERS must be between 0 and 64")
        backend = make_url(self.database_url).get_backend_name()
        if backend not in {"sqlite", "postgresql"}:
            raise SettingsError("DATABASE_URL must name SQLite or PostgreSQL")
        return self

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        environment = env.get("CHANNELBILL_ENV", "development")
        database_url = _async_url(env.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
        migration_url = env.get("MIGRATION_DATABASE_URL")
        is_sqlite = database_url.startswith("sqlite")
        data_dir = Path(env.get("CHANNELBILL_DATA_DIR", "data"))
        secret_key = env.get("CHANNELBILL_SECRET_KEY", "")
        if not secret_key and environment == "development":
            secret_key = development_secret(data_dir)
        return cls(
            environment=environment,
            database_url=database_url,
            migration_database_url=_async_url(migration_url) if migration_url else None,
            secret_key=secret_key,
            issuer=env.get("CHANNELBILL_ISSUER", "channelbill"),
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", "8000"),
            public_url=env.get("PUBLIC_URL") or None,
            access_token_ttl_seconds=_int(env, "ACCESS_TOKEN_TTL_SECONDS", 15 * 60),
            refresh_token_ttl_seconds=_int(env, "REFRESH_TOKEN_TTL_SECONDS", 30 * 24 * 3600),
            migrate_on_start=_flag(env.get("MIGRATE_ON_START"), True),
            seed_demo=_flag(
                env.get("CHANNELBILL_SEED_DEMO"), environment == "development" and is_sqlite
            ),
            demo_password=env.get("CHANNELBILL_DEMO_PASSWORD", DEMO),
            data_dir=data_dir,
            smtp_host=env.get("SMTP_HOST") or None,
            smtp_port=_int(env, "SMTP_PORT", "587"),
            smtp_username=env.get("SMTP_USERNAME") or None,
            smtp_password=env.get("SMTP_PASSWORD") or None,
            smtp_starttls=_flag(env.get("SMTP_STARTTLS"), True),
            smtp_timeout_seconds=_float(env, "SMTP_TIMEOUT_SECONDS", "30"),
            mail_from=env.get("MAIL_FROM", "channelbill <billing@localhost>"),
            outbox_dispatch=_flag(env.get("OUTBOX_DISPATCH"), True),
            outbox_poll_seconds=_float(env, "OUTBOX_POLL_SECONDS", "1"),
            outbox_max_attempts=_int(env, "OUTBOX_MAX_ATTEMPTS", "8"),
            outbox_retry_seconds=_float(env, "OUTBOX_RETRY_SECONDS", "30"),
            invitation_ttl_hours=_int(env, "INVITATION_TTL_HOURS", str(7 * 24)),
            control_panel_url=env.get("CONTROL_PANEL_URL") or None,
            oauth_allow_http=_flag(env.get("OAUTH_ALLOW_HTTP"), environment != "production"),
            db_pool_size=_int(env, "DB_POOL_SIZE", "10"),
            platform_name=env.get("PLATFORM_NAME", "channelbill"),
            platform_invoice_prefix=env.get("PLATFORM_INVOICE_PREFIX", "CB"),
            payment_terms_days=_int(env, "PAYMENT_TERMS_DAYS", "30"),
            cors_origins=_origins(env.get("CORS_ORIGINS", "")),
            subscriptions_per_connection=_int(env, "SUBSCRIPTIONS_PER_CONNECTION", "10"),
            subscription_streams_per_caller=_int(env, "SUBSCRIPTION_STREAMS_PER_CALLER", "20"),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", str(1024 * 1024)),
            max_upload_bytes=_int(env, "MAX_UPLOAD_BYTES", str(2 * 1024 * 1024)),
            query_cost_limit=_int(env, "QUERY_COST_LIMIT", "25000"),
            cost_budget=_float(env, "COST_BUDGET", "100000"),
            cost_restore_rate=_float(env, "COST_RESTORE_RATE", "5000"),
            request_timeout_seconds=_float(env, "REQUEST_TIMEOUT_SECONDS", "30"),
            db_statement_timeout_seconds=_float(env, "DB_STATEMENT_TIMEOUT_SECONDS", "30"),
            db_pool_timeout_seconds=_float(env, "DB_POOL_TIMEOUT_SECONDS", "2"),
            trusted_documents=Path(env["TRUSTED_DOCUMENTS"])
            if env.get("TRUSTED_DOCUMENTS")
            else None,
            payment_gateway=env.get("PAYMENT_GATEWAY", "sandbox").strip().lower(),
            stripe_secret_key=env.get("STRIPE_SECRET_KEY") or None,
            stripe_publishable_key=env.get("STRIPE_PUBLISHABLE_KEY") or None,
            stripe_webhook_secret=env.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_base=env.get("STRIPE_API_BASE") or None,
            stripe_js_url=env.get("STRIPE_JS_URL") or STRIPE_JS_URL,
            payment_retries=_int(env, "PAYMENT_RETRIES", "3"),
            payment_retry_hour=_int(env, "PAYMENT_RETRY_HOUR", "20"),
            jobs_run=_flag(env.get("JOBS_RUN"), True),
            jobs_poll_seconds=_float(env, "JOBS_POLL_SECONDS", "1"),
            pdf_workers=_int(env, "PDF_WORKERS", None),
            graphql_fast_path=_flag(env.get("GRAPHQL_FAST_PATH"), True),
            graphql_compiled=_flag(env.get("GRAPHQL_COMPILED"), True),
            events_retention_days=_int(env, "EVENTS_RETENTION_DAYS", "90"),
            webhooks_allow_private_targets=_flag(
                env.get("WEBHOOKS_ALLOW_PRIVATE_TARGETS"), environment == "development"
            ),
        ).validate()


def _number(env: Mapping[str, str], name: str, default: object, kind: type) -> Any:
    """The variable as a finite number; unset or empty, the default. Anything else is a
    SettingsError that names the variable, never a traceback."""
    value = env.get(name)
    if value is None or not value.strip():
        return default if default is None else kind(default)
    try:
        number = kind(value.strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {value[:40]!r}") from None
    if not math.isfinite(number) or abs(number) > MAX_SETTING:
        raise SettingsError(f"{name} is out of range: {value[:40]!r}")
    return number


def _int(env: Mapping[str, str], name: str, default: object) -> Any:
    return _number(env, name, default, int)


def _float(env: Mapping[str, str], name: str, default: object) -> Any:
    return _number(env, name, default, float)


def development_secret(data_dir: Path) -> str:
    """The install's own random key: read from ``data_dir``, or made there (mode 0600) once."""
    path = data_dir / DEV_KEY_FILE
    try:
        if not path.exists():
            data_dir.mkdir(parents=True, exist_ok=True)
            draft = data_dir / f".{DEV_KEY_FILE}.{os.getpid()}"
            descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(secrets.token_urlsafe(48) + "\n")
            try:
                # A link never replaces: of two workers starting at once, the first key wins.
                os.link(draft, path)
            except FileExistsError:
                pass
            finally:
                draft.unlink()
        key = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise SettingsError(f"cannot keep a development key in {data_dir}: {error}") from None
    if len(key.encode()) < 32:
        raise SettingsError(f"{path} holds no usable key: delete it to make a new one")
    return key


def _async_url(url: str) -> str:
    """Accept the usual spellings and pick the async driver (aiosqlite, asyncpg)."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+asyncpg"}
    if parsed.drivername in {"postgres", "postgres+asyncpg"}:
        parsed = parsed.set(drivername="postgresql+asyncpg")
    backend = parsed.get_backend_name()
    if backend in driver and parsed.drivername != driver[backend]:
        parsed = parsed.set(drivername=driver[backend])
    return parsed.render_as_string(hide_password=False)


def _origins(value: str) -> tuple[str, ...]:
    """CORS_ORIGINS: origins separated by commas or spaces, each scheme://host[:port]."""
    origins = tuple(part.rstrip("/") for part in value.replace(",", " ").split() if part)
    for origin in origins:
        parsed = urlsplit(origin)
        if parsed.scheme not in {"http", "https"} or not parsed.netloc or parsed.path:
            raise SettingsError(f"CORS_ORIGINS: {origin!r} is not an origin (https://host:port)")
    return origins
