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

from core.errors import DomainError, Problem

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


@strawberry.type(description="An expected failure of a mutation: nothing was changed.")
class UserError:
    code: str = strawberry.field(description="Machine-readable reason, e.g. NOT_FOUND, TAKEN.")
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
            return _copy(error, problem.message, {"code": problem.code, "field": problem.field})
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
