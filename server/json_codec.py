"""JSON in and out of POST /graphql, for any bytes a client may send.

In: the stdlib parser keeps lone surrogates ("\\ud800") so that the schema can refuse them naming
the argument (orjson would refuse the whole body); a body nested 100,000 deep raises
RecursionError there, and bytes that are not UTF-8 a UnicodeDecodeError: both are unreadable
bodies, answered 400 with a GraphQL-shaped error (``request_error``), never a 500.
Out: orjson, which refuses lone surrogates; an error that quotes one is sent with each replaced
by U+FFFD rather than failing the response.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


class UnreadableJSON(ValueError):
    pass


def decode(data: str | bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise UnreadableJSON("the request body is not valid JSON") from None


def request_error(message: str, code: str = "BAD_USER_INPUT") -> dict[str, Any]:
    """The answer to a request refused before GraphQL could run, shaped like any GraphQL error."""
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


def encode(data: object) -> bytes:
    try:
        return orjson.dumps(data)
    except orjson.JSONEncodeError:
        return orjson.dumps(_encodable(data))


def _encodable(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_encodable(k): _encodable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encodable(v) for v in value]
    return value
