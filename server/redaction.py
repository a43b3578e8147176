"""No credential reaches a log: document links' tokens, and credentials in query strings, are
replaced before uvicorn's access log (or its error log) writes the request line.

A document link is a bearer credential for 15 minutes: whoever reads the access log could
download the invoice behind it.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_DOCUMENT = re.compile(r"(/documents/)[^/?#\s\"]+")
_QUERY = re.compile(
    r"([?&](?:token|access_token|refresh_token|id_token|client_secret|secret|password|key"
    r"|api_key|signature|sig|code)=)[^&#\s\"]*",
    re.IGNORECASE,
)
LOGGERS = ("uvicorn.access", "uvicorn.error")


def redact(text: str) -> str:
    return _QUERY.sub(rf"\g<1>{REDACTED}", _DOCUMENT.sub(rf"\g<1>{REDACTED}", text))


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def install_redaction() -> None:
    """Once uvicorn has configured its loggers (``uvicorn.Config`` does it)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
