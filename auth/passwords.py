"""Argon2id password hashing (argon2-cffi's defaults follow RFC 9106's recommendation)."""

from __future__ import annotations

from functools import cache

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core.errors import ErrorCode, ValidationFailed

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a password nobody has")


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant work whether or not the account exists, so timing reveals nothing."""
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def hash_password_off_loop(password: str) -> str:
    """Argon2 is slow on purpose (tens of ms): in a thread, so other requests go on meanwhile."""
    return await anyio.to_thread.run_sync(hash_password, password)


async def verify_password_off_loop(password_hash: str | None, password: str) -> bool:
    return await anyio.to_thread.run_sync(verify_password, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


MIN_LENGTH = 12
MAX_LENGTH = 1024  # Argon2 takes any length; an unbounded one is a cheap way to burn our CPU


def check_password_policy(password: str, email: str) -> None:
    """At least 12 characters, at most 1,024, and not the sign-in address (or its local part)."""
    if len(password) < MIN_LENGTH:
        raise ValidationFailed(
            f"the password must have at least {MIN_LENGTH} characters",
            field="password",
            code=ErrorCode.WEAK_PASSWORD,
        )
    if len(password) > MAX_LENGTH:
        raise ValidationFailed(
            f"the password must have at most {MAX_LENGTH} characters",
            field="password",
            code=ErrorCode.WEAK_PASSWORD,
        )
    folded = password.strip().casefold()
    address = email.casefold()
    if folded in {address, address.partition("@")[0]}:
        raise ValidationFailed(
            "the password must not be your email address",
            field="password",
            code=ErrorCode.WEAK_PASSWORD,
        )
