"""Run the benchmarks and print one table per benchmark (scripts/bench is the way in).

    python -m benchmarks [NAME ...] [--only sqlite|postgresql] [--repeat N] [benchmark options]

Each benchmark is a module of this package listed in BENCHMARKS, with:

    NAME: str                      what to call it on the command line
    TITLE: str                     the heading of its table
    add_arguments(parser)          its own options
    async measure(target, options) -> harness.Report, once per backend, on a fresh database

PostgreSQL runs against TEST_DATABASE_URL (a superuser URL; scripts/bench starts a throwaway
server when it is not set); without it, PostgreSQL is skipped with a note.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from types import ModuleType

from . import billing_run, documents, dunning, keyset, page_query, streams, webhooks
from .harness import BACKENDS, Report, fresh_database, render_table

BENCHMARKS: dict[str, ModuleType] = {
    module.NAME: module
    for module in (billing_run, documents, dunning, keyset, page_query, streams, webhooks)
}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "names",
        nargs="*",
        metavar="NAME",
        help=f"benchmarks to run (default all): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--only", choices=BACKENDS, help="one database instead of both")
    parser.add_argument(
        "--repeat", type=int, default=3, help="measurements per database; medians are quoted"
    )
    for module in BENCHMARKS.values():
        module.add_arguments(parser)
    options = parser.parse_args(argv)
    unknown = [n for n in options.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
    if options.repeat < 1:
        parser.error("--repeat must be at least 1")
    return options


def say(text: str) -> None:
    print(f"==> {text}", file=sys.stderr, flush=True)


async def main(argv: list[str]) -> int:
    options = parse(argv)
    admin_url = os.environ.get("TEST_DATABASE_URL") or None
    backends = [options.only] if options.only else list(BACKENDS)
    if "postgresql" in backends and admin_url is None:
        say("PostgreSQL skipped: TEST_DATABASE_URL is not set")
        backends.remove("postgresql")
    if not backends:
        return 1
    print(
        f"# {platform.python_implementation()} {platform.python_version()},"
        f" {os.cpu_count()} CPUs, {platform.machine()}; medians of {options.repeat}"
    )
    for name in options.names or list(BENCHMARKS):
        module = BENCHMARKS[name]
        reports: dict[str, Report] = {}
        for backend in backends:
            say(f"{module.TITLE} on {backend}")
            async with fresh_database(backend, admin_url) as target:
                reports[backend] = await module.measure(target, options)
        print(f"\n## {module.TITLE}\n")
        facts = next(iter(reports.values())).facts
        for label, value in facts.items():
            print(f"{label}: {value}")
        for backend, report in reports.items():
            if report.facts != facts:
                print(f"!! {backend} differs: {report.facts}")
        columns = ["database", *next(iter(reports.values())).row]
        rows = [
            [backend, *row.values()]
            for backend, report in reports.items()
            for row in (report.row, *report.more)
        ]
        # A column that applies to none of the databases measured ("-" everywhere) is left out.
        keep = [i for i in range(len(columns)) if any(row[i] != "-" for row in rows)]
        print()
        print(render_table([columns[i] for i in keep], [[row[i] for i in keep] for row in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
