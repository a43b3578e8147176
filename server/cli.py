"""channelbill serve | migrate | seed-demo | worker"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import socket
import sys

from server.settings import Settings, SettingsError


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


def serve(settings: Settings) -> None:
    import uvicorn

    from server.app import create_app
    from server.redaction import log_config

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
            return await seed_demo(db, settings.demo_password)
        finally:
            await db.dispose()

    print("demo data loaded" if asyncio.run(run()) else "demo data already present")


def worker(settings: Settings) -> None:
    from db.database import Database
    from server.mail import build_dispatcher, describe_transport

    async def run() -> None:
        db = Database(settings.database_url, pool_size=2)
        dispatcher = build_dispatcher(settings, db)
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stopping.set)
        print(f"channelbill worker delivering email to {describe_transport(settings)}", flush=True)
        await dispatcher.start()
        try:
            await stopping.wait()
        finally:
            # stop() lets a send under way finish and be recorded, so a restart repeats nothing.
            await dispatcher.stop()
            await db.dispose()
        print("channelbill worker stopped", flush=True)

    asyncio.run(run())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="channelbill", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="migrate, then serve HTTP (HOST, PORT)")
    commands.add_parser("migrate", help="apply the database migrations")
    commands.add_parser("seed-demo", help="load the demo data into an empty database")
    commands.add_parser(
        "worker",
        help="deliver queued email (and, later, billing jobs) in a process of its own",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        parser.exit(2, f"channelbill: {error}\n")
    commands_by_name = {"serve": serve, "migrate": migrate, "seed-demo": seed, "worker": worker}
    commands_by_name[args.command](settings)


if __name__ == "__main__":
    main()
