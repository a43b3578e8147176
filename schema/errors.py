"""Error codes on the wire: top-level GraphQL errors and mutation payloads' ``errors`` lists."""

from __future__ import annotations

import logging
import re
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLSyntaxError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from strawberry.extensions import MaskErrors

from core.errors import DomainError, ErrorCode, Problem
from schema.enums import described_enum

log = logging.getLogger("channelbill.graphql")

UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
BILLING_ACCESS_REQUIRED = "BILLING_ACCESS_REQUIRED"
NOT_FOUND = "NOT_FOUND"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL_SERVER_ERROR"
# Before execution (the names Apollo's tools and the graphql-http audit look for):
GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"  # not GraphQL at all
GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"  # GraphQL, but not valid for our schema
QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
ACCOUNT_DEACTIVATED = "ACCOUNT_DEACTIVATED"  # billing only, until reactivated (schema.standing)
RATE_LIMITED = "RATE_LIMITED"
SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"  # no database connection free in time: retry
TIMEOUT = "TIMEOUT"  # the request or one of its statements ran past its time limit
# Persisted queries (Apollo's codes, which its persisted-query link looks for):
PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"  # send the hash again with the query
PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
PERSISTED_QUERY_TOO_LARGE = "PERSISTED_QUERY_TOO_LARGE"
DOCUMENT_NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"  # TRUSTED_DOCUMENTS is set and names no such one
# Refused by HTTP itself, before any GraphQL (each with its status code):
METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"  # 405: PUT /graphql, or a mutation over GET
NOT_ACCEPTABLE = "NOT_ACCEPTABLE"  # 406: the Accept header rules out both JSON media types
UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"  # 415: a body neither JSON nor multipart
QUERY_CANCELED = "57014"  # PostgreSQL's SQLSTATE for a statement_timeout


class ApiError(GraphQLError):
    """An error we mean to show, with its ``extensions.code``."""

    def __init__(self, message: str, code: str, **extensions: Any) -> None:
        super().__init__(message, extensions={"code": code, **extensions})


UserErrorCode = described_enum(
    ErrorCode,
    name="UserErrorCode",
    description="Why a mutation changed nothing; the message says it for people.",
    values={
        ErrorCode.BAD_USER_INPUT: "A value is malformed or out of range; field names it.",
        ErrorCode.NOT_FOUND: "No such object, or not one the caller may see.",
        ErrorCode.FORBIDDEN: "The caller may not do this.",
        ErrorCode.CONFLICT: "Another request did the same at the same time; send it again.",
        ErrorCode.TAKEN: "The name, slug, sku or email is already in use.",
        ErrorCode.RATE_LIMITED: "Too many attempts; the message says when to try again.",
        ErrorCode.INVALID_CREDENTIALS: "Wrong email or password, or an unknown refresh token.",
        ErrorCode.RESELLER_REQUIRED: "The sign-in fits several resellers: give reseller, its slug.",
        ErrorCode.TOKEN_REUSED: "A refresh token was used twice: every session of the chain"
        " is signed out.",
        ErrorCode.INVALID_TOKEN: "The activation link is invalid, used or expired.",
        ErrorCode.WEAK_PASSWORD: "The password is too short, too long or the email address.",
        ErrorCode.NOT_INVITED: "Only an INVITED user can be sent an invitation.",
        ErrorCode.USER_NOT_ACTIVE: "Only an ACTIVE user can be given billing access.",
        ErrorCode.OWNER_CANNOT_BE_DISABLED: "The reseller's OWNER cannot be disabled.",
        ErrorCode.CANNOT_DISABLE_SELF: "A user cannot disable themselves.",
        ErrorCode.BILLING_ACCESS_REQUIRED: "Only a caller with billing access may do this.",
        ErrorCode.OWNER_KEEPS_BILLING_ACCESS: "The OWNER always has billing access.",
        ErrorCode.INVALID_SCOPE: "A scope that does not exist; the message lists the known ones.",
        ErrorCode.INVALID_TRANSITION: "The invoice cannot go to that status from its current one"
        " (see allowedTransitions).",
        ErrorCode.CUSTOM_FIELD_REQUIRED: "A required custom field has no value: the invoice"
        " cannot be posted.",
        ErrorCode.INVOICE_NOT_POSTED: "A DRAFT invoice cannot be sent or paid: post it first.",
        ErrorCode.RATE_UNAVAILABLE: "A price needs an exchange rate that is not published.",
        ErrorCode.AMOUNT_OUT_OF_RANGE: "An amount would be too large to store.",
        ErrorCode.ACCOUNT_DEACTIVATED: "The reseller's account is deactivated: only billing"
        " is open until a user with billing access reactivates it with a new card.",
        ErrorCode.ACCOUNT_NOT_DEACTIVATED: "Only a DEACTIVATED account is reactivated; change"
        " the card with updatePaymentMethod.",
        ErrorCode.CARD_DECLINED: "The payment gateway refused the card; the message is its own.",
        ErrorCode.NO_PAYMENT_METHOD: "There is no card on file to charge.",
        ErrorCode.PAYMENT_NOT_POSSIBLE: "This invoice cannot be paid that way (not OPEN, nothing"
        " due, or not charged to a card).",
        ErrorCode.PAYMENT_IN_PROGRESS: "A payment of the invoice is awaiting the gateway's answer.",
        ErrorCode.PAYMENT_GATEWAY_UNAVAILABLE: "The payment gateway did not answer; nothing"
        " changed.",
        ErrorCode.INVOICE_NOT_OPEN: "Payments are recorded against OPEN invoices only.",
        ErrorCode.AMOUNT_EXCEEDS_DUE: "The payment is more than the invoice's amount due.",
        ErrorCode.IDEMPOTENCY_KEY_REUSED: "The idempotency key was used before with other input.",
    },
)


@strawberry.type(description="An expected failure of a mutation: nothing was changed.")
class UserError:
    code: UserErrorCode = strawberry.field(  # type: ignore[valid-type]
        description="Machine-readable reason."
    )
    message: str = strawberry.field(description="Human-readable explanation.")
    field: str | None = strawberry.field(
        description="The input field at fault (camelCase path), when there is one."
    )

    @classmethod
    def from_problem(cls, problem: Problem) -> UserError:
        return cls(code=problem.code, message=problem.message, field=problem.field)


@strawberry.type(description="What every mutation payload has.")
class Payload:
    errors: list[UserError] = strawberry.field(
        default_factory=list,
        description="Why nothing changed; empty on success.",
    )


def overloaded(error: BaseException) -> tuple[str, str] | None:
    """(code, message) when ``error`` says the database is too busy, not that something is wrong:
    the caller may retry, so it is told so rather than answered INTERNAL."""
    if isinstance(error, PoolTimeout):
        return SERVICE_UNAVAILABLE, "The service is busy; try again shortly."
    if isinstance(error, DBAPIError) and getattr(error.orig, "sqlstate", None) == QUERY_CANCELED:
        return TIMEOUT, "The database took too long to answer."
    return None


def user_errors(error: DomainError) -> list[UserError]:
    return [UserError.from_problem(p) for p in error.problems]


class CodedErrors(MaskErrors):
    """Every error leaves with a code. Ours keep their message; anything unexpected is logged and
    replaced by a bare INTERNAL error: no stack trace or SQL ever reaches a client."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: True, error_message="Internal server error.")

    def _process_errors(self, errors: list[GraphQLError]) -> list[GraphQLError]:
        before = {id(e) for e in self.execution_context.pre_execution_errors or ()}
        return [self._coded(error, id(error) in before) for error in errors]

    def _coded(self, error: GraphQLError, before_execution: bool = False) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            problem = original.problems[0]
            # A plain string, as every top-level code is, not the enum member.
            code = str(problem.code)
            return _copy(error, problem.message, {"code": code, "field": problem.field})
        if original is None or isinstance(original, GraphQLError):
            code = (error.extensions or {}).get("code") or _uncoded(error, before_execution)
            extensions = {**(error.extensions or {}), "code": code}
            if code == BAD_USER_INPUT and "field" not in extensions:
                extensions["field"] = variable_path(error.message)
            return _copy(error, error.message, extensions)
        known = overloaded(original)
        if known is not None:
            return _copy(error, known[1], {"code": known[0]})
        log.error("unexpected error in %s", error.path, exc_info=original)
        return _copy(error, self.error_message, {"code": INTERNAL})


_VARIABLE_PATH = re.compile(r"^Variable '\$(\w+)' has invalid value(?: at ((?:\.\w+|\[\d+\])+))?")


# graphql-core's words for a variable's value that its type does not take (bad input, not a bad
# document): it is coerced before execution, with the document's validation.
_BAD_VARIABLE = re.compile(
    r"^Variable '\$\w+' (has invalid value|of required type .* was not provided"
    r"|of non-null type .* must not be null)"
)


def variable_path(message: str) -> str | None:
    """The input field a variable's value failed at, as payload errors name fields:
    "Variable '$input' has invalid value at .periodEnd: ..." -> "input.periodEnd"."""
    found = _VARIABLE_PATH.match(message)
    if found is None:
        return None
    steps = re.findall(r"\.(\w+)|\[(\d+)\]", found.group(2) or "")
    return ".".join([found.group(1), *(name or index for name, index in steps)])


def _uncoded(error: GraphQLError, before_execution: bool) -> str:
    """graphql-core's own errors carry no code: a syntax error, a document our schema refuses,
    or (during execution) variables that do not fit their types, which is bad input."""
    if isinstance(error, GraphQLSyntaxError):
        return GRAPHQL_PARSE_FAILED
    if _BAD_VARIABLE.match(error.message) or not before_execution:
        return BAD_USER_INPUT
    return GRAPHQL_VALIDATION_FAILED


def _copy(error: GraphQLError, message: str, extensions: dict[str, Any]) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={k: v for k, v in extensions.items() if v is not None},
    )
