"""What channelbill asks of a payment gateway, whichever it is (``sandbox``, ``stripe``).

The card number never reaches us: a browser hands it to the gateway (Stripe Elements on a
SetupIntent) and we get a token, or a test token such as ``pm_card_visa``. ``verify`` turns that
token into a card the gateway keeps for charging later without the holder present, and refuses
one the gateway will not save. ``charge`` is sent with a key we derived from seller, invoice and
attempt number, as the gateway's idempotency key and in its metadata; ``find_charge`` looks an
attempt up by that key, so an attempt whose answer never came is resolved by asking, never by
charging again. Nothing here trusts the gateway to honour the idempotency key itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

# Declines that retrying the same card will not cure: the holder must give another card.
HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "restricted_card",
        "fraudulent",
        "merchant_blacklist",
        "invalid_number",
        "incorrect_number",
        "invalid_account",
        "expired_card",
        "card_not_supported",
        "currency_not_supported",
        "authentication_required",
        "do_not_honor",
        "do_not_try_again",
        "revocation_of_authorization",
        "security_violation",
        "stop_payment_order",
        "transaction_not_allowed",
        "resource_missing",  # the card or its customer is gone at the gateway
    }
)


@dataclass(frozen=True, slots=True)
class Card:
    """A card the gateway keeps: its references and what may be shown of it."""

    ref: str  # the gateway's payment-method id
    customer_ref: str | None  # the gateway's customer the card is saved on, if it has them
    brand: str
    last4: str
    exp_month: int
    exp_year: int


@dataclass(frozen=True, slots=True)
class CardSetup:
    """What a browser needs to hand a card to the gateway itself (Stripe Elements on a
    SetupIntent): the intent's client secret, the publishable key, and the script to load."""

    client_secret: str
    publishable_key: str
    js_url: str


class ChargeStatus(enum.StrEnum):
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    reference: str | None  # the gateway's id of the charge (a PaymentIntent)
    failure_reason: str | None = None  # as the gateway put it
    decline_code: str | None = None

    @property
    def hard_decline(self) -> bool:
        return self.decline_code in HARD_DECLINES


class CardRefused(Exception):
    """The gateway would not save the card; ``reason`` is its message, for the holder."""

    def __init__(self, reason: str, decline_code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.decline_code = decline_code


class GatewayUnavailable(Exception):
    """No answer, or not one we can read (a timeout, a 5xx, the network): the outcome of a
    charge sent is unknown until ``find_charge`` says."""


@dataclass(frozen=True, slots=True)
class ChargeRequest:
    key: str  # our idempotency key: also in the charge's metadata, to find it again
    card: Card
    amount: Decimal
    currency: str
    description: str
    metadata: dict[str, str]


class Gateway(Protocol):
    name: str

    async def verify(self, token: str, *, account: str, email: str | None) -> Card:
        """Save the card behind ``token`` for off-session charges (a SetupIntent), under the
        gateway customer of ``account`` (our reseller id); CardRefused when it is refused."""
        ...

    async def setup(
        self, *, account: str, email: str | None, customer: str | None = None
    ) -> CardSetup | None:
        """A SetupIntent for off-session use on the gateway customer of ``account`` (``customer``
        when we already know it), for the browser to confirm; ``verify`` then takes its id.
        None from a gateway that takes no card from a browser (the sandbox: test tokens only)."""
        ...

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        """Charge off-session; GatewayUnavailable when the outcome is unknown."""
        ...

    async def find_charge(self, key: str, *, account: str) -> ChargeResult | None:
        """What became of the charge sent with ``key``; None when the gateway has none."""
        ...
