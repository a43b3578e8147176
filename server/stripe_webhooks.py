"""POST /webhooks/stripe: Stripe's own reports of charges, verified before anything reads them.

No bearer token: Stripe signs each delivery with the endpoint's secret (``STRIPE_WEBHOOK_SECRET``),
and the signature, checked by the official SDK over the raw bytes and within its five-minute
tolerance (an old delivery replayed by someone else is refused), is the only credential. Without
a secret the route is off (404), so an install that never set one up exposes nothing.

A refusal is 400 with a JSON error and never says more than why; every handled event answers
200 ``{"received": true}``, replays and types we do not act on included, since anything else
makes Stripe deliver it again for days. What the event means is ``payments/stripe_events.py``.
"""

from __future__ import annotations

import json
import logging

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse

from payments.stripe_events import MalformedEvent, StripeEvents, read_event
from schema.errors import BAD_USER_INPUT, NOT_FOUND
from server import json_codec

log = logging.getLogger("channelbill")

# Stripe's events are a few kilobytes; its documented cap on a payload is far below this.
MAX_EVENT_BYTES = 256 * 1024
SIGNATURE_HEADER = "stripe-signature"


def _refused(status: int, message: str, code: str = BAD_USER_INPUT) -> JSONResponse:
    return JSONResponse(json_codec.request_error(message, code), status_code=status)


class StripeWebhooks:
    def __init__(self, events: StripeEvents, secret: str | None) -> None:
        self.events = events
        self.secret = secret

    async def handle(self, request: Request) -> JSONResponse:
        if not self.secret:
            return _refused(404, "no Stripe webhook is configured here", NOT_FOUND)
        payload = await _body(request)
        if payload is None:
            return _refused(413, f"the event is larger than {MAX_EVENT_BYTES} bytes")
        try:
            stripe.WebhookSignature.verify_header(
                payload,
                request.headers.get(SIGNATURE_HEADER),
                self.secret,
                tolerance=stripe.Webhook.DEFAULT_TOLERANCE,
            )
        except (stripe.SignatureVerificationError, UnicodeDecodeError):
            log.warning("stripe webhook: a delivery with a bad or missing signature was refused")
            return _refused(400, "the Stripe-Signature header does not verify this payload")
        try:
            event = read_event(json.loads(payload))
        except (ValueError, RecursionError) as error:  # MalformedEvent is a ValueError
            reason = str(error) if isinstance(error, MalformedEvent) else "not JSON"
            return _refused(400, f"the event cannot be read: {reason}")
        outcome = await self.events.handle(event)
        log.info("stripe webhook %s %s: %s", event.id, event.type, outcome)
        return JSONResponse({"received": True})


async def _body(request: Request) -> bytes | None:
    """The raw body, as signed; None once it passes ``MAX_EVENT_BYTES`` (read no further)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_EVENT_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
