"""Run localstripe on 127.0.0.1 and a given port, keeping its store in memory only.

    python tests/payments/run_localstripe.py PORT

Out of the box localstripe listens on every interface and pickles its whole store to
/tmp/localstripe.pickle after every write (and loads it again on start, so one run's customers
leak into the next). This launcher turns both off and changes nothing else: the adapter is tested
against localstripe's own behaviour.

localstripe is GPL-3. It is a test-time tool, run only as a separate process by the tests
(tests/payments/localstripe.py); this launcher is the only file that imports it, and nothing
under the product's packages ever does.
"""

from __future__ import annotations

import sys

from aiohttp import web
from localstripe import resources, server


def _keep_in_memory(store: resources.Store) -> None:
    """Its persistence, to disk and back, made a no-op."""


def main() -> None:
    port = int(sys.argv[1])
    resources.Store.dump_to_disk = _keep_in_memory  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = _keep_in_memory  # type: ignore[method-assign]
    web.run_app(server.app, host="127.0.0.1", port=port, print=None, access_log=None)


if __name__ == "__main__":
    main()
