"""Who is calling, and over what: the client address and scheme, proxies taken into account.

``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed only when the direct peer is one of
the configured ``trusted_proxies``; anyone else could write them to dodge the throttle or to
claim https. Behind a trusted proxy the client is the right-most address that is not itself a
trusted proxy (the proxies append; what the client wrote comes first and is not believed).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import HTTPConnection

__all__ = ["client_address", "is_https"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(proxies: Sequence[str]) -> list[_Network]:
    return [ipaddress.ip_network(p, strict=False) for p in proxies]


def _trusted(address: str, networks: Sequence[_Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in networks)


def _peer(request: HTTPConnection) -> str:
    return request.client.host if request.client is not None else "unknown"


def client_address(request: HTTPConnection, proxies: Sequence[str]) -> str:
    """The client's address as this service can know it."""
    peer = _peer(request)
    networks = _networks(proxies)
    if not networks or not _trusted(peer, networks):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, networks):
            return hop[:64]
    return hops[0][:64] if hops else peer


def is_https(request: HTTPConnection, proxies: Sequence[str]) -> bool:
    """Did the request reach us over https (directly, or per a trusted proxy)?"""
    if request.url.scheme == "https":
        return True
    networks = _networks(proxies)
    if networks and _trusted(_peer(request), networks):
        proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
        return proto == "https"
    return False
