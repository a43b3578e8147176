"""Domain failures. Services raise them; the API layer maps them to error codes.

Expected business failures (bad input, a refused transition) are *user errors*: a mutation returns
them in its payload and changes nothing. Anything else is a bug and is masked as INTERNAL.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    field: str | None = None


class DomainError(Exception):
    """A failure the caller can understand and act on; carries one or more problems."""

    code = "BAD_USER_INPUT"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None):
        super().__init__(message)
        self.problems: list[Problem] = [Problem(code or self.code, message, field)]

    @classmethod
    def many(cls, problems: list[Problem]) -> DomainError:
        error = cls(problems[0].message, field=problems[0].field, code=problems[0].code)
        error.problems = list(problems)
        return error


class ValidationFailed(DomainError):
    code = "BAD_USER_INPUT"


class NotFound(DomainError):
    """The object does not exist *or belongs to another tenant*: the two are indistinguishable."""

    code = "NOT_FOUND"

    def __init__(self, what: str = "object", *, field: str | None = None):
        super().__init__(f"{what} not found", field=field)


class Forbidden(DomainError):
    code = "FORBIDDEN"


class Conflict(DomainError):
    code = "CONFLICT"
