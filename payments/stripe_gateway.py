"""The ``stripe`` gateway: Stripe's API through the official SDK's async client.

Choices that the protocol leaves to us, and why:

- **Customers.** A card is saved on the Stripe Customer of the account (our reseller id is in
  the customer's metadata, ``account``). We look the customer up with ``customers.list(email=…)``
  and keep the one whose metadata names the account: the list is strongly consistent, where
  ``customers.search`` lags by up to a minute (and localstripe, our test server, has no search).
  Without an email there is nothing to look up by, and a new customer is made.
- **Saving a card.** A SetupIntent is created, then confirmed with the token, in two calls
  rather than one (``confirm=True`` on create): Stripe accepts both and localstripe only this.
  A token that is a SetupIntent id (``seti_…``) is one the browser confirmed with Elements; we
  check that it was made for this account (its metadata or its customer) and that it succeeded.
  A card that asks for 3-D Secure cannot be saved from the server, where the holder is not: it
  is refused, with a message that says where it can be.
- **Finding a charge.** ``find_charge`` lists PaymentIntents (strongly consistent, unlike search,
  whose lag is exactly the window in which a reconciler asks) and keeps those whose metadata
  carry our key and account. If the gateway made two under one key (localstripe ignores
  idempotency keys; Stripe does not), a succeeded one wins: the money was taken.
- **No retries here.** The SDK's network retries are off: a charge whose answer never came is
  resolved by the caller asking ``find_charge``, never by sending it again blindly.

Nothing here logs or keeps a card number (we never see one) or the secret key.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import stripe

from core.currency import minor_units
from payments.gateway import (
    Card,
    CardRefused,
    CardSetup,
    ChargeRequest,
    ChargeResult,
    ChargeStatus,
    GatewayUnavailable,
)

KEY_METADATA = "channelbill_key"  # the metadata entry that carries our idempotency key
ACCOUNT_METADATA = "account"
METADATA_VALUE_LIMIT = 500  # Stripe's limit on one metadata value
NEEDS_HOLDER = (
    "This card asks its holder to authenticate (3-D Secure): add it from the card page, where"
    " the holder can."
)
# Errors after which the outcome of what we sent is unknown: a network failure, a timeout, a
# rate limit, the gateway's own 5xx (APIError). Ask find_charge before doing anything again.
STRIPE_JS_URL = "https://js.stripe.com/v3/"  # Stripe.js, which Stripe asks be loaded from it
log = logging.getLogger("channelbill.payments")

UNAVAILABLE: tuple[type[stripe.StripeError], ...] = (
    stripe.APIConnectionError,
    stripe.RateLimitError,
    stripe.APIError,
)


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, sending the encoded form as ``content``: it passes the string as
    ``data``, which httpx deprecates (and our tests turn every warning into an error)."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Any, post_data: Any) -> Any:
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(kwargs.get("data"), str | bytes):
            kwargs["content"] = kwargs.pop("data")
        return args, kwargs


def to_minor_units(amount: Decimal, currency: str) -> int:
    """``Decimal("12.34")`` USD → 1234; JPY has no minor unit, so 1234 JPY → 1234.

    An amount finer than the currency's minor unit is a bug upstream, not something to round
    silently on the way to a card."""
    scaled = amount.scaleb(minor_units(currency.upper()))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} {currency} has more decimals than the currency")
    return int(scaled)


def _fields(obj: Any) -> dict[str, Any]:
    """A StripeObject's fields as a dict (it is no dict itself), {} for none."""
    return obj.to_dict() if obj is not None else {}


def _payment_error(error: stripe.StripeError) -> tuple[str, str | None]:
    """The holder's message and the most specific code: Stripe's decline code when it gives
    one, else the error code (localstripe gives no decline code, only ``card_declined``)."""
    detail = error.error
    decline_code = getattr(detail, "decline_code", None) if detail else None
    message = error.user_message or str(error) or "The card was declined."
    return message, decline_code or error.code


def _result(intent: Any) -> ChargeResult:
    """A PaymentIntent's status, as the charging service reads it."""
    status = intent.status
    if status == "succeeded":
        return ChargeResult(ChargeStatus.SUCCEEDED, intent.id)
    if status == "requires_action":
        # Off-session, nobody can pass the challenge: Stripe calls it authentication_required
        # (localstripe leaves the intent in requires_action and says nothing more).
        return ChargeResult(ChargeStatus.FAILED, intent.id, NEEDS_HOLDER, "authentication_required")
    if status == "processing":
        raise GatewayUnavailable(f"the charge {intent.id} is still processing")
    error = _fields(intent.last_payment_error)
    if error:
        reason = error.get("message") or "The card was declined."
        return ChargeResult(
            ChargeStatus.FAILED, intent.id, reason, error.get("decline_code") or error.get("code")
        )
    # requires_payment_method, requires_confirmation, canceled: nothing was taken.
    return ChargeResult(ChargeStatus.FAILED, intent.id, f"The charge was not made ({status}).")


class StripeGateway:
    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        api_base: str | None = None,
        timeout_seconds: float = 20.0,
        *,
        publishable_key: str | None = None,
        js_url: str = STRIPE_JS_URL,
    ) -> None:
        self._publishable_key = publishable_key
        self._js_url = js_url
        self._http = _HTTPXClient(timeout=timeout_seconds)
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=0,
        )
        self._api = self._client.v1

    def __repr__(self) -> str:  # never the key
        return f"StripeGateway(timeout={self._http._timeout!r})"

    async def aclose(self) -> None:
        await self._http.close_async()

    async def verify(self, token: str, *, account: str, email: str | None) -> Card:
        token = token.strip()
        try:
            if token.startswith("seti_"):
                intent = await self._api.setup_intents.retrieve_async(token)
                customer = intent.customer
                await self._require_own(intent, account)
                method_id = self._saved_method(intent)
                if customer is None:
                    customer = await self._customer(account, email)
                    await self._api.payment_methods.attach_async(method_id, {"customer": customer})
            else:
                customer = await self._customer(account, email)
                intent = await self._api.setup_intents.create_async(
                    {
                        "customer": customer,
                        "usage": "off_session",
                        "payment_method_types": ["card"],
                        "metadata": {ACCOUNT_METADATA: account},
                    }
                )
                intent = await self._api.setup_intents.confirm_async(
                    intent.id, {"payment_method": token}
                )
                method_id = self._saved_method(intent)
            method = await self._api.payment_methods.retrieve_async(method_id)
        except stripe.CardError as error:
            raise CardRefused(*_payment_error(error)) from None
        except stripe.InvalidRequestError as error:
            # An unknown token or intent: the holder's input, not our bug.
            raise CardRefused(error.user_message or str(error), error.code) from None
        except UNAVAILABLE as error:
            raise GatewayUnavailable(type(error).__name__) from error
        except stripe.StripeError as error:  # our key, our account: not the holder's doing
            log.error("Stripe refused a request of ours: %s", type(error).__name__)
            raise GatewayUnavailable(type(error).__name__) from error
        card = method.card
        if card is None:
            raise CardRefused("Only cards can be kept on file.", "card_not_supported")
        return Card(
            ref=method.id,
            customer_ref=customer if isinstance(customer, str) else customer.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    async def setup(
        self, *, account: str, email: str | None, customer: str | None = None
    ) -> CardSetup | None:
        """A SetupIntent on the account's customer, our account in its metadata (so that
        ``verify`` accepts its id only for this account), for Elements to confirm."""
        if not self._publishable_key:
            # Without it the browser cannot talk to Stripe: no intent is left dangling.
            raise GatewayUnavailable("STRIPE_PUBLISHABLE_KEY is not set")
        try:
            customer = customer or await self._customer(account, email)
            intent = await self._api.setup_intents.create_async(
                {
                    "customer": customer,
                    "usage": "off_session",
                    "payment_method_types": ["card"],
                    "metadata": {ACCOUNT_METADATA: account},
                }
            )
        except stripe.StripeError as error:
            # A customer gone at Stripe, our key refused: nothing the holder can fix here.
            log.error("Stripe refused a card setup: %s", type(error).__name__)
            raise GatewayUnavailable(type(error).__name__) from error
        assert intent.client_secret
        return CardSetup(intent.client_secret, self._publishable_key, self._js_url)

    async def _require_own(self, intent: Any, account: str) -> None:
        """A SetupIntent id is only a reference: one made for another account (in its metadata,
        or on its customer) must not put that account's card on this one."""
        owner = _fields(intent.metadata).get(ACCOUNT_METADATA)
        if owner is None and intent.customer is not None:
            customer = intent.customer
            if isinstance(customer, str):
                customer = await self._api.customers.retrieve_async(customer)
            owner = _fields(customer.metadata).get(ACCOUNT_METADATA)
        if owner != account:
            raise CardRefused("This card was not added for this account.", None)

    @staticmethod
    def _saved_method(intent: Any) -> str:
        if intent.status == "requires_action":
            raise CardRefused(NEEDS_HOLDER, "authentication_required")
        if intent.status != "succeeded" or not intent.payment_method:
            error = _fields(intent.last_setup_error)
            reason = error.get("message") or "The card was not saved."
            raise CardRefused(reason, error.get("decline_code") or error.get("code"))
        method = intent.payment_method
        return method if isinstance(method, str) else method.id

    async def _customer(self, account: str, email: str | None) -> str:
        if email:
            found = await self._api.customers.list_async({"email": email, "limit": 100})
            async for customer in found.auto_paging_iter():
                if _fields(customer.metadata).get(ACCOUNT_METADATA) == account:
                    return customer.id
        params: dict[str, Any] = {"metadata": {ACCOUNT_METADATA: account}}
        if email:
            params["email"] = email
        return (await self._api.customers.create_async(params)).id  # type: ignore[arg-type]

    async def charge(self, request: ChargeRequest) -> ChargeResult:
        metadata = request.metadata | {
            KEY_METADATA: request.key,
            # In metadata, not ``description``: localstripe refuses that parameter.
            "description": request.description[:METADATA_VALUE_LIMIT],
        }
        params: dict[str, Any] = {
            "amount": to_minor_units(request.amount, request.currency),
            "currency": request.currency.lower(),
            "customer": request.card.customer_ref,
            "payment_method": request.card.ref,
            "payment_method_types": ["card"],
            "off_session": True,
            "confirm": True,
            "metadata": metadata,
        }
        if request.card.customer_ref is None:
            del params["customer"]  # a card saved on no customer (none of ours, but allowed)
        try:
            intent = await self._api.payment_intents.create_async(
                params,  # type: ignore[arg-type]
                {"idempotency_key": request.key},
            )
        except stripe.CardError as error:
            reason, code = _payment_error(error)
            # Stripe names the intent it made in the error; localstripe does not.
            made = getattr(error.error, "payment_intent", None) if error.error else None
            reference = _fields(made).get("id")
            return ChargeResult(ChargeStatus.FAILED, reference, reason, code)
        except stripe.InvalidRequestError as error:
            # The card or its customer is gone at Stripe: this card cannot be charged again.
            reason = error.user_message or "The card on file can no longer be charged."
            return ChargeResult(ChargeStatus.FAILED, None, reason, error.code or "resource_missing")
        except UNAVAILABLE as error:
            raise GatewayUnavailable(type(error).__name__) from error
        except stripe.StripeError as error:  # our key refused: the charge was not made
            log.error("Stripe refused a charge request of ours: %s", type(error).__name__)
            raise GatewayUnavailable(type(error).__name__) from error
        return _result(intent)

    async def find_charge(self, key: str, *, account: str) -> ChargeResult | None:
        found: list[ChargeResult] = []
        try:
            page = await self._api.payment_intents.list_async({"limit": 100})
            async for intent in page.auto_paging_iter():
                metadata = _fields(intent.metadata)
                if metadata.get(KEY_METADATA) == key and metadata.get(ACCOUNT_METADATA) == account:
                    found.append(_result(intent))
        except stripe.StripeError as error:
            raise GatewayUnavailable(type(error).__name__) from error
        for result in found:
            if result.status is ChargeStatus.SUCCEEDED:
                return result
        return found[0] if found else None
