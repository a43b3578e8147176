"""Where a webhook may be sent: https to a public address, checked when the endpoint is made and
again, after resolving its name, at every delivery (a name can point elsewhere tomorrow). The
delivery then connects to the very address that was checked, so a DNS answer that changes
between the check and the connection (rebinding) cannot send it inside.

Refused: loopback, private (RFC 1918), link-local, unique-local, CGNAT (100.64/10), multicast,
unspecified, reserved and documentation ranges, and those same addresses wrapped in IPv6
(IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible, 6to4, Teredo, NAT64). ``allow_private``
(WEBHOOKS_ALLOW_PRIVATE_TARGETS, for tests and development) lets them through, and plain http;
cloud metadata services are refused even then.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2000
RESOLVE_TIMEOUT_SECONDS = 5.0
# Instance metadata and the like: credentials of the machine we run on, never a webhook.
METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean…
        "169.254.170.2",  # AWS ECS task credentials
        "169.254.169.253",  # AWS DNS
        "169.254.169.123",  # AWS time
        "fd00:ec2::254",  # AWS over IPv6
        "fd00:ec2::253",
        "fd00:ec2::23",
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(ValueError):
    """This URL or address is not one a webhook may be sent to; the message says why."""


@dataclass(frozen=True, slots=True)
class Target:
    """A webhook URL taken apart: what to connect to and what to ask for."""

    scheme: str
    host: str  # lower case, no trailing dot; an IPv6 literal without brackets
    port: int
    path: str  # path and query, as given ("/" when empty)

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The URL that connects to ``address`` (the one checked) for this target."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{shown}:{self.port}{self.path}"


def parse(url: str, *, allow_private: bool) -> Target:
    """The URL's parts, or UnsafeTarget: https (http only with ``allow_private``), a host, no
    credentials; a literal address is checked here, a name when it is resolved."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise UnsafeTarget(f"the URL must be 1 to {MAX_URL_LENGTH} characters")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise UnsafeTarget("the URL must be ASCII without spaces (punycode for other names)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeTarget("the URL is malformed") from None
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget("the URL must be https")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the URL must not carry a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeTarget("the URL must name a host")
    if host in METADATA_HOSTS:
        raise UnsafeTarget("the URL names a cloud metadata service")
    literal = _literal(host)
    if literal is not None:
        check(literal, allow_private=allow_private)
    path = parts.path or "/"
    if parts.query:
        path += f"?{parts.query}"
    default = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, host, port or default, path)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _embedded(address: IPAddress) -> list[IPAddress]:
    """The address and any IPv4 address an IPv6 form wraps."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64 or (address.packed[:12] == bytes(12) and int(address) > 1):
            found.append(ipaddress.IPv4Address(address.packed[12:]))
    return found


def _public(address: IPAddress) -> bool:
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
    )


def check(address: IPAddress, *, allow_private: bool) -> None:
    """UnsafeTarget unless a webhook may connect to ``address``."""
    forms = _embedded(ipaddress.ip_address(str(address).split("%")[0]))
    if any(form in METADATA_ADDRESSES for form in forms):
        raise UnsafeTarget("the URL points at a cloud metadata service")
    if allow_private:
        return
    if not all(_public(form) for form in forms):
        raise UnsafeTarget(
            "the URL points at a private, loopback, link-local or otherwise non-public address"
        )


async def resolve(target: Target, *, allow_private: bool) -> list[IPAddress]:
    """The addresses the target's host has now, every one of them checked (one bad answer
    refuses them all: a name that can resolve inside is not a public endpoint)."""
    literal = _literal(target.host)
    if literal is not None:
        check(literal, allow_private=allow_private)
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        answers = await asyncio.wait_for(
            loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT_SECONDS,
        )
    except (OSError, TimeoutError, UnicodeError):
        raise UnsafeTarget(f"the host {target.host} could not be resolved") from None
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        check(address, allow_private=allow_private)
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeTarget(f"the host {target.host} has no address")
    return addresses
