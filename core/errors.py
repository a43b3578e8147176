"""Domain failures. Services raise them; the API layer maps them to error codes.

Expected business failures (bad input, a refused transition) are *user errors*: a mutation returns
them in its payload and changes nothing. Anything else is a bug and is masked as INTERNAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Every code a domain failure can carry, and so every code of a mutation payload's errors:
    the API's UserErrorCode enum is this one, so a code cannot reach a client undocumented."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    FORBIDDEN = "FORBIDDEN"
    CONFLICT = "CONFLICT"
    TAKEN = "TAKEN"
    RATE_LIMITED = "RATE_LIMITED"
    # Signing in and accounts
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    RESELLER_REQUIRED = "RESELLER_REQUIRED"
    TOKEN_REUSED = "TOKEN_REUSED"  # noqa: S105  (a code, not a secret)
    INVALID_TOKEN = "INVALID_TOKEN"  # noqa: S105
    WEAK_PASSWORD = "WEAK_PASSWORD"  # noqa: S105
    NOT_INVITED = "NOT_INVITED"
    USER_NOT_ACTIVE = "USER_NOT_ACTIVE"
    OWNER_CANNOT_BE_DISABLED = "OWNER_CANNOT_BE_DISABLED"
    CANNOT_DISABLE_SELF = "CANNOT_DISABLE_SELF"
    BILLING_ACCESS_REQUIRED = "BILLING_ACCESS_REQUIRED"
    OWNER_KEEPS_BILLING_ACCESS = "OWNER_KEEPS_BILLING_ACCESS"
    INVALID_SCOPE = "INVALID_SCOPE"
    # Billing
    INVALID_TRANSITION = "INVALID_TRANSITION"
    CUSTOM_FIELD_REQUIRED = "CUSTOM_FIELD_REQUIRED"
    INVOICE_NOT_POSTED = "INVOICE_NOT_POSTED"
    RATE_UNAVAILABLE = "RATE_UNAVAILABLE"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    # Payments
    ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"
    ACCOUNT_NOT_DEACTIVATED = "ACCOUNT_NOT_DEACTIVATED"
    CARD_DECLINED = "CARD_DECLINED"
    NO_PAYMENT_METHOD = "NO_PAYMENT_METHOD"
    PAYMENT_NOT_POSSIBLE = "PAYMENT_NOT_POSSIBLE"
    PAYMENT_IN_PROGRESS = "PAYMENT_IN_PROGRESS"
    PAYMENT_GATEWAY_UNAVAILABLE = "PAYMENT_GATEWAY_UNAVAILABLE"
    INVOICE_NOT_OPEN = "INVOICE_NOT_OPEN"
    AMOUNT_EXCEEDS_DUE = "AMOUNT_EXCEEDS_DUE"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"


@dataclass(frozen=True, slots=True)
class Problem:
    code: ErrorCode
    message: str
    field: str | None = None

    def __post_init__(self) -> None:
        # A code outside ErrorCode fails where it is raised (ValueError), not silently on the wire.
        object.__setattr__(self, "code", ErrorCode(self.code))


class DomainError(Exception):
    """A failure the caller can understand and act on; carries one or more problems."""

    code: ErrorCode = ErrorCode.BAD_USER_INPUT

    def __init__(
        self, message: str, *, field: str | None = None, code: ErrorCode | None = None
    ) -> None:
        super().__init__(message)
        self.problems: list[Problem] = [Problem(code or self.code, message, field)]

    @classmethod
    def many(cls, problems: list[Problem]) -> DomainError:
        error = cls(problems[0].message, field=problems[0].field, code=problems[0].code)
        error.problems = list(problems)
        return error


class ValidationFailed(DomainError):
    code = ErrorCode.BAD_USER_INPUT


class NotFound(DomainError):
    """The object does not exist *or belongs to another tenant*: the two are indistinguishable."""

    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "object", *, field: str | None = None):
        super().__init__(f"{what} not found", field=field)


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Conflict(DomainError):
    code = ErrorCode.CONFLICT
