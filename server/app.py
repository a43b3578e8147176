"""create_app(settings): the ASGI application."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

import anyio.to_thread
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute

from auth import portal
from auth.accounts import AccountPolicy, Accounts
from auth.sessions import Authenticator, TokenPolicy
from auth.tokens import TokenSigner
from billing.lifecycle import BillingPolicy, InvoiceLifecycle
from db import migrate
from db.database import Database
from documents.links import DocumentLinks
from documents.renderer import PdfRenderer
from documents.service import Documents
from events.feed import PostgresWakeups
from events.retention import forget_events_older_than
from jobs.housekeeping import JOB_HOUSEKEEPING, Housekeeping, schedule_housekeeping
from jobs.runner import JobRunner
from limits.buckets import Bucket
from notifications.emails import Composer
from payments.schedule import RetryPolicy
from payments.service import PaymentServices
from payments.stripe_events import StripeEvents
from schema import build_schema
from schema.context import Services
from schema.cost import CostPolicy
from schema.errors import BAD_USER_INPUT, INTERNAL, METHOD_NOT_ALLOWED, NOT_FOUND
from server import json_codec
from server.body_limit import BodyLimit
from server.demo import seed_demo
from server.documents import DocumentDownloads
from server.graphiql_assets import graphiql_asset
from server.graphql_view import GraphQLView
from server.health import healthz, readyz
from server.mail import build_dispatcher
from server.oauth import TokenEndpoint
from server.overload import TimeLimit, database_busy
from server.pages import Pages
from server.payments import build_gateway, close_gateway
from server.persisted import PersistedQueries, load_trusted
from server.settings import Settings
from server.stripe_webhooks import StripeWebhooks
from tenants.rls import check_app_role
from webhooks.delivery import WebhookSender
from webhooks.endpoints import Webhooks
from webhooks.sealed import SecretBox

log = logging.getLogger("channelbill")


async def prepare_database(settings: Settings, db: Database) -> None:
    """Migrate (as the owner), then refuse to serve on PostgreSQL unless RLS binds our role."""
    if settings.migrate_on_start:
        await migrate.upgrade(settings.owner_database_url, settings.database_url)
    if db.is_postgresql:
        async with db.engine.connect() as connection:
            await check_app_role(connection)
    if settings.seed_demo:
        await seed_demo(db, settings)


async def internal_error(_request: Request, _exc: Exception) -> JSONResponse:
    log.exception("unhandled error")
    return JSONResponse(
        {"errors": [{"message": "Internal server error.", "extensions": {"code": INTERNAL}}]},
        status_code=500,
    )


async def http_error(_request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (a path no route has, a method a route does not take) in the
    shape of every other error here, not its plain-text default."""
    assert isinstance(exc, HTTPException)
    code = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED}.get(exc.status_code, BAD_USER_INPUT)
    return Response(
        json_codec.encode(json_codec.request_error(exc.detail, code)),
        status_code=exc.status_code,
        media_type="application/json",
        headers=exc.headers,
    )


def build_services(settings: Settings, db: Database) -> Services:
    signer = TokenSigner(settings.secret_key, settings.issuer)
    composer = Composer(settings.mail_from, settings.platform_name)
    lifecycle = InvoiceLifecycle(
        composer,
        BillingPolicy(
            platform_name=settings.platform_name,
            platform_prefix=settings.platform_invoice_prefix,
            payment_terms_days=settings.payment_terms_days,
        ),
    )
    box = SecretBox(settings.secret_key)
    return Services(
        db=db,
        webhooks=Webhooks(box, allow_private=settings.webhooks_allow_private_targets),
        authenticator=Authenticator(
            signer,
            TokenPolicy(settings.access_token_ttl_seconds, settings.refresh_token_ttl_seconds),
        ),
        accounts=Accounts(
            db,
            composer,
            AccountPolicy(
                activation_url=settings.activation_url,
                invitation_ttl=timedelta(hours=settings.invitation_ttl_hours),
            ),
        ),
        signer=signer,
        lifecycle=lifecycle,
        composer=composer,
        documents=Documents(db, settings.platform_name, PdfRenderer(settings.pdf_workers)),
        links=DocumentLinks(signer, settings.base_url),
        platform_name=settings.platform_name,
        development=settings.development,
        streams_per_caller=settings.subscription_streams_per_caller,
        payments=PaymentServices.build(
            db,
            build_gateway(settings, db),
            lifecycle,
            composer,
            policy=RetryPolicy(retries=settings.payment_retries, hour=settings.payment_retry_hour),
            platform_name=settings.platform_name,
            card_url=f"{settings.base_url}/billing/card",
        ),
    )


def build_jobs(settings: Settings, db: Database, services: Services) -> JobRunner:
    """The job table's runner: in the server's own process by default, and in every
    ``channelbill worker``; any number of them may run against one database."""
    housekeeping = Housekeeping(
        db, steps=[forget_events_older_than(settings.events_retention_days)]
    )
    sender = WebhookSender(
        db,
        services.webhooks.box,
        services.composer,
        platform_name=settings.platform_name,
        allow_private=settings.webhooks_allow_private_targets,
    )
    handlers = {
        **services.payments.job_handlers(),
        **sender.handlers(),
        JOB_HOUSEKEEPING: housekeeping,
    }
    return JobRunner(db, handlers, poll_seconds=settings.jobs_poll_seconds)


def create_app_from_env() -> Starlette:
    """The app of one worker process of ``channelbill serve --workers N`` (a uvicorn factory)."""
    return create_app(Settings.from_env())


def cost_policy(settings: Settings) -> CostPolicy:
    budget = None
    if settings.cost_budget > 0:
        budget = Bucket(capacity=settings.cost_budget, leak_per_second=settings.cost_restore_rate)
    return CostPolicy(max_cost=settings.query_cost_limit, budget=budget)


def create_app(settings: Settings) -> Starlette:
    db = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
        statement_timeout=settings.db_statement_timeout_seconds or None,
    )
    services = build_services(settings, db)
    schema = build_schema(
        development=settings.development,
        cost=cost_policy(settings),
        plain_fields=settings.graphql_fast_path,
        compiled=settings.graphql_compiled,
    )
    trusted = load_trusted(settings.trusted_documents) if settings.trusted_documents else None
    graphql = GraphQLView(
        schema,
        services,
        PersistedQueries(trusted),
        allowed_origins=settings.cors_origins,
        subscriptions_per_connection=settings.subscriptions_per_connection,
    )
    time_limit = Middleware(TimeLimit, seconds=settings.request_timeout_seconds)
    dispatcher = (
        build_dispatcher(settings, db, services.documents) if settings.outbox_dispatch else None
    )
    jobs = build_jobs(settings, db, services) if settings.jobs_run else None
    downloads = DocumentDownloads(graphql.callers, services.links, services.documents)
    pages = Pages(settings)
    # Signed by Stripe, not by a bearer token: outside the bearer middleware.
    stripe_webhooks = StripeWebhooks(
        StripeEvents(db, services.payments.collector), settings.stripe_webhook_secret
    )

    # Other processes' events wake this one's subscriptions (LISTEN; SQLite: one process).
    wakeups = PostgresWakeups(db.engine.url) if db.is_postgresql else None

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await prepare_database(settings, db)
        if wakeups is not None:
            wakeups.start()
        services.documents.renderer.start()
        if dispatcher is not None:
            await dispatcher.start()
        if jobs is not None:
            try:
                await schedule_housekeeping(db)
            except Exception:  # an unmigrated database (readyz says so); the runner waits too
                log.warning("housekeeping not scheduled: the database is not ready")
            await jobs.start()
        # What start-up made lives as long as the process: out of the collector's sight, a full
        # collection no longer walks it (every ~12 requests, ~80 ms each).
        gc.freeze()
        try:
            yield
        finally:
            gc.unfreeze()  # a process that runs many apps (the tests) can free each one
            # Both at once: a stop waits for one item's grace period, not two in turn.
            await asyncio.gather(*(w.stop() for w in (jobs, dispatcher, wakeups) if w is not None))
            await close_gateway(services.payments.gateway)
            await anyio.to_thread.run_sync(services.documents.renderer.close)
            await db.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", graphql, methods=["GET", "POST"], middleware=[time_limit]),
            WebSocketRoute("/graphql", graphql),
            Route("/documents/{token}", downloads.handle, methods=["GET"]),
            Route("/oauth/token", TokenEndpoint(services, settings).handle, methods=["POST"]),
            Route("/webhooks/stripe", stripe_webhooks.handle, methods=["POST"]),
            Route("/graphiql/{name}", graphiql_asset, methods=["GET"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/", pages.front, methods=["GET"]),
            Route("/activate", pages.activate, methods=["GET"]),
            Route("/billing/card", pages.card, methods=["GET"]),
            Route(portal.PAGE_PATH, pages.portal, methods=["GET"]),
            Route("/pages/{name}", pages.asset, methods=["GET"]),
        ],
        exception_handlers={
            HTTPException: http_error,
            500: internal_error,
            PoolTimeout: database_busy,
        },
        lifespan=lifespan,
        middleware=[
            *_cors(settings),
            Middleware(
                BodyLimit,
                max_bytes=settings.max_body_bytes,
                multipart_max_bytes=settings.max_upload_bytes,
            ),
        ],
    )
    app.state.settings = settings
    app.state.services = services
    app.state.persisted = graphql.persisted  # per process: see server/persisted.py
    return app


def _cors(settings: Settings) -> list[Middleware]:
    """A control panel on its own origin calls the API from the browser: the allow-listed
    origins may send the Authorization header (no cookies: credentials are bearer tokens)."""
    if not settings.cors_origins:
        return []
    return [
        Middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            expose_headers=["Retry-After"],
            max_age=600,
        )
    ]
