"""The refusal every limit gives: RATE_LIMITED, with how long to wait."""

from __future__ import annotations

import math

from core.errors import DomainError, ErrorCode

RATE_LIMITED = ErrorCode.RATE_LIMITED


class RateLimited(DomainError):
    code = RATE_LIMITED

    def __init__(self, retry_after: float, what: str = "too many attempts") -> None:
        # Whole seconds, at least one: what an HTTP Retry-After can say, and never "wait 0 s".
        self.retry_after = max(1, math.ceil(min(retry_after, 86_400.0)))
        unit = "second" if self.retry_after == 1 else "seconds"
        super().__init__(f"{what}: try again in {self.retry_after} {unit}")
