"""channelbill serve | migrate | seed-demo | worker | create-reseller | create-admin | billing-run
| resend-email"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from server.settings import Settings, SettingsError

if TYPE_CHECKING:
    from db.database import Database

T = TypeVar("T")


def _banner(settings: Settings) -> str:
    from server.mail import describe_transport

    base = settings.base_url
    lines = [
        "",
        "channelbill is running",
        f"  GraphQL + GraphiQL   {base}/graphql",
        f"  health               {base}/healthz   {base}/readyz",
        f"  database             {settings.database_url.split('@')[-1]}",
        f"  outgoing mail        {describe_transport(settings)}",
    ]
    if settings.seed_demo:
        lines += [
            "  demo sign-ins        admin@example.com (platform admin)",
            "                       {owner,admin,member}@acme.example",
            "                       {owner,admin,member}@globex.example",
            f"  demo password        {settings.demo_password}",
        ]
    return "\n".join(lines) + "\n"


def serve(settings: Settings, workers: int = 1) -> None:
    import uvicorn

    from server.app import create_app
    from server.redaction import log_config

    if workers > 1:
        serve_workers(settings, workers)
        return

    class Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                print(_banner(settings), flush=True)

    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        proxy_headers=True,
        log_level="info",
        log_config=log_config(),  # no credential in the access log
    )
    server = Server(config)
    server.run()
    if not server.started:
        sys.exit(1)


def serve_workers(settings: Settings, workers: int) -> None:
    """N uvicorn worker processes on one socket. Nothing a request needs lives in a process:
    every worker reads sign-ins, permissions, limits and jobs from the database. Migrations and
    the demo data run once, here, before the workers start."""
    import uvicorn

    from db.database import Database
    from server.app import prepare_database
    from server.redaction import log_config

    async def prepare() -> None:
        db = Database(settings.database_url, pool_size=1)
        try:
            await prepare_database(settings, db)
        finally:
            await db.dispose()

    asyncio.run(prepare())
    if settings.pdf_workers is None:
        # The machine's CPUs shared among the workers' PDF pools, one process each at least.
        from documents.renderer import machine_workers

        os.environ["PDF_WORKERS"] = str(-(-machine_workers() // workers))
    os.environ["MIGRATE_ON_START"] = "false"
    os.environ["CHANNELBILL_SEED_DEMO"] = "false"
    print(_banner(settings).replace("is running", f"is starting {workers} workers"), flush=True)
    uvicorn.run(
        "server.app:create_app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        proxy_headers=True,
        log_level="info",
        log_config=log_config(),  # no credential in the access log
    )


def migrate(settings: Settings) -> None:
    from db import migrate as migrations

    asyncio.run(migrations.upgrade(settings.owner_database_url, settings.database_url))
    print("database migrated to", migrations.head_revision())


def seed(settings: Settings) -> None:
    from db.database import Database
    from server.demo import seed_demo

    async def run() -> bool:
        db = Database(settings.database_url)
        try:
            return await seed_demo(db, settings)
        finally:
            await db.dispose()

    print("demo data loaded" if asyncio.run(run()) else "demo data already present")


def worker(settings: Settings) -> None:
    from db.database import Database
    from jobs.housekeeping import schedule_housekeeping
    from server.app import build_jobs, build_services
    from server.mail import build_dispatcher, describe_transport
    from server.payments import close_gateway

    async def run() -> None:
        db = Database(settings.database_url, pool_size=2)
        services = build_services(settings, db)
        dispatcher = build_dispatcher(settings, db, services.documents)
        jobs = build_jobs(settings, db, services)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        print(
            f"channelbill worker running due jobs and delivering email to"
            f" {describe_transport(settings)}",
            flush=True,
        )
        await dispatcher.start()
        await schedule_housekeeping(db)
        await jobs.start()
        try:
            await stopping.wait()
        finally:
            # stop() lets the work under way finish and be recorded, so a restart repeats nothing;
            # both at once, so that a stop waits for one item's grace period, not two in turn.
            await asyncio.gather(jobs.stop(), dispatcher.stop())
            await close_gateway(services.payments.gateway)
            await asyncio.to_thread(services.documents.renderer.close)
            await db.dispose()
        print("channelbill worker stopped", flush=True)

    asyncio.run(run())


def _operation(work: Callable[[Database], Awaitable[T]], settings: Settings) -> T:
    from db.database import Database
    from server.operations import OperationFailed

    async def run() -> T:
        db = Database(settings.database_url, pool_size=2)
        try:
            return await work(db)
        finally:
            await db.dispose()

    try:
        return asyncio.run(run())
    except OperationFailed as failure:
        print(f"channelbill: {failure}", file=sys.stderr)
        sys.exit(1)


def create_reseller(settings: Settings, args: argparse.Namespace) -> None:
    from server import operations

    reseller = _operation(
        lambda db: operations.create_reseller(
            settings,
            db,
            name=args.name,
            currency=args.currency,
            owner_email=args.owner_email,
            owner_name=args.owner_name,
            slug=args.slug,
            timezone=args.timezone,
        ),
        settings,
    )
    print(f"reseller {reseller.name} ({reseller.slug}) made; {args.owner_email} is invited")


def create_admin(settings: Settings, args: argparse.Namespace) -> None:
    from server import operations

    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else _ask_password()
    _operation(
        lambda db: operations.create_platform_admin(
            db, email=args.email, name=args.name, password=password
        ),
        settings,
    )
    print(f"platform admin {args.email} made")


def _ask_password() -> str:
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        print("channelbill: the passwords differ", file=sys.stderr)
        sys.exit(1)
    return first


def billing_run(settings: Settings, args: argparse.Namespace) -> None:
    from server import operations

    try:
        period = operations.month_of(args.period)
    except operations.OperationFailed as failure:
        print(f"channelbill: {failure}", file=sys.stderr)
        sys.exit(2)
    summary = _operation(
        lambda db: operations.run_period(
            settings,
            db,
            period,
            reseller_slug=args.reseller,
            wholesale=args.wholesale,
            progress=None if args.quiet else operations.progress_bar(),
        ),
        settings,
    )
    print(f"billing period {period[0]} to {period[1]}")
    print("\n".join(summary.lines()))
    if summary.problems:
        sys.exit(1)


def resend_email(settings: Settings, args: argparse.Namespace) -> None:
    from server import operations

    recipient = _operation(lambda db: operations.resend_email(db, args.message_id), settings)
    print(f"message {args.message_id} to {recipient} queued again")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="channelbill", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="migrate, then serve HTTP (HOST, PORT)")
    serve_parser.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="worker processes (default WEB_CONCURRENCY or 1)",
    )
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("seed-demo", help="load the demo data into an empty database")
    commands.add_parser(
        "worker",
        help="deliver queued email (and, later, billing jobs) in a process of its own",
    )
    made = commands.add_parser(
        "create-reseller", help="a new reseller; its OWNER is invited by email"
    )
    made.add_argument("--name", required=True)
    made.add_argument("--currency", required=True, help="ISO 4217, e.g. EUR")
    made.add_argument("--owner-email", required=True)
    made.add_argument("--owner-name", required=True)
    made.add_argument("--slug")
    made.add_argument("--timezone", help="IANA time zone, e.g. Europe/Berlin")
    admin = commands.add_parser("create-admin", help="a platform admin (asks for the password)")
    admin.add_argument("--email", required=True)
    admin.add_argument("--name", required=True)
    admin.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    run = commands.add_parser(
        "billing-run", help="make the draft invoices of a month for every reseller (or one)"
    )
    run.add_argument("period", help="the month, YYYY-MM")
    run.add_argument("--reseller", help="only this reseller (its slug)")
    run.add_argument(
        "--wholesale", action="store_true", help="also the platform's bills to the resellers"
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    resend = commands.add_parser("resend-email", help="queue a FAILED email again")
    resend.add_argument("message_id", help="the outbox message's id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        parser.exit(2, f"channelbill: {error}\n")
    if args.command == "serve":
        if args.workers < 1:
            parser.exit(2, "channelbill: --workers must be at least 1\n")
        serve(settings, args.workers)
        return
    operations = {
        "create-reseller": create_reseller,
        "create-admin": create_admin,
        "billing-run": billing_run,
        "resend-email": resend_email,
    }
    if args.command in operations:
        operations[args.command](settings, args)
        return
    commands_by_name = {"migrate": migrate, "seed-demo": seed, "worker": worker}
    commands_by_name[args.command](settings)


if __name__ == "__main__":
    main()
