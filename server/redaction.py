"""No credential reaches a log: document links' tokens, and credentials in query strings, are
replaced before uvicorn's access log (or its error log) writes the request line.

A document link is a bearer credential for 15 minutes: whoever reads the access log could
download the invoice behind it.
"""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

REDACTED = "[redacted]"
_DOCUMENT = re.compile(r"(/documents/)[^/?#\s\"]+")
_QUERY = re.compile(
    r"([?&](?:token|access_token|refresh_token|id_token|client_secret|secret|password|key"
    r"|api_key|signature|sig|code)=)[^&#\s\"]*",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    return _QUERY.sub(rf"\g<1>{REDACTED}", _DOCUMENT.sub(rf"\g<1>{REDACTED}", text))


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's logging configuration with the filter on each of its handlers. Every uvicorn
    process (each of ``--workers``, too) configures its logging from this dictionary, so none
    writes an unredacted line."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact_credentials"] = {
        "()": f"{__name__}.{RedactCredentials.__name__}"
    }
    for handler in config["handlers"].values():
        handler.setdefault("filters", []).append("redact_credentials")
    return config
