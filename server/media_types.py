"""Which media type a GraphQL answer is sent as, from the request's ``Accept`` (GraphQL over HTTP).

``application/graphql-response+json`` lets the status code say what happened (400 for a request
that never ran); ``application/json`` is what legacy clients and Apollo's defaults read, always 200
for GraphQL errors. A client that names the new type gets it; a wildcard (``*/*``, what browsers
and curl send) or no Accept at all gets ``application/json``, so that no client written before the
new type existed sees a status it does not expect.
"""

from __future__ import annotations

GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
APPLICATION_JSON = "application/json"
_OFFERED = (GRAPHQL_RESPONSE_JSON, APPLICATION_JSON)
_EXACT = 3  # a range that names the type, as against application/* (2) and */* (1)


def negotiate(accept: str | None) -> str | None:
    """The media type to answer with, or ``None`` when the client accepts neither (406)."""
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = [parsed for part in accept.split(",") if (parsed := _media_range(part)) is not None]
    # Per offered type: the quality of the most specific range that matches it (RFC 9110 12.5.1).
    best: dict[str, tuple[float, int]] = {}
    for offered in _OFFERED:
        matching = [
            (specificity, q) for media, specificity, q in ranges if _matches(media, offered)
        ]
        if matching:
            specificity, q = max(matching)
            if q > 0:
                best[offered] = (q, specificity)
    if not best:
        return None
    graphql_response = best.get(GRAPHQL_RESPONSE_JSON, (0.0, 0))
    legacy = best.get(APPLICATION_JSON, (0.0, 0))
    if graphql_response > legacy:
        return GRAPHQL_RESPONSE_JSON
    if legacy > graphql_response:
        return APPLICATION_JSON
    # A tie: both named (the new type wins, it is the one the client was written for) or both
    # reached through the same wildcard (the legacy type, as for a client that named neither).
    return GRAPHQL_RESPONSE_JSON if graphql_response[1] == _EXACT else APPLICATION_JSON


def _media_range(part: str) -> tuple[str, int, float] | None:
    """``"application/json;q=0.5"`` -> ``("application/json", 3, 0.5)``; ``None`` if unreadable."""
    media, *parameters = (piece.strip() for piece in part.split(";"))
    media = media.lower()
    if media.count("/") != 1:
        return None
    q = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                q = float(value.strip())
            except ValueError:
                return None
    kind, subtype = media.split("/")
    specificity = 1 if kind == "*" else 2 if subtype == "*" else _EXACT
    return media, specificity, min(max(q, 0.0), 1.0)


def _matches(media_range: str, offered: str) -> bool:
    kind, subtype = media_range.split("/")
    offered_kind, offered_subtype = offered.split("/")
    return kind == "*" or (kind == offered_kind and subtype in ("*", offered_subtype))
