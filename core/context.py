"""The request context services need without being handed the request: request id and client IP.

`RequestContextMiddleware` sets it for each HTTP request (API and Django admin alike); Celery
tasks and management commands run with an empty context (request id "", IP None) unless they
set one with `request_context(...)`.
"""
from __future__ import annotations

import contextlib
import ipaddress
import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip_address: str | None = None


_current: ContextVar[RequestContext] = ContextVar("dgt_request_context", default=RequestContext())


def current() -> RequestContext:
    """The context of the request being served (empty outside a request)."""
    return _current.get()


@contextlib.contextmanager
def request_context(request_id: str = "", ip_address: str | None = None):
    token = _current.set(RequestContext(request_id=request_id, ip_address=ip_address))
    try:
        yield
    finally:
        _current.reset(token)


def clean_request_id(value: str | None) -> str:
    """An incoming X-Request-ID if it is 1..128 printable, header-safe characters; else a new uuid4 hex."""
    if value and len(value) <= 128 and all(c.isalnum() or c in "-_.:/+=" for c in value):
        return value
    return uuid.uuid4().hex


def _parse_networks(entries) -> list:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return nets


def client_ip(meta: dict, trusted_proxies) -> str | None:
    """The client address: REMOTE_ADDR, unless it is a trusted proxy; then the rightmost
    X-Forwarded-For entry that is not a trusted proxy (entries to its left are client-supplied
    and can be forged, so they are never believed)."""
    remote = meta.get("REMOTE_ADDR") or None
    nets = _parse_networks(trusted_proxies)
    if not nets or not remote:
        return remote

    def trusted(addr: str) -> bool:
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in nets)

    if not trusted(remote):
        return remote
    hops = [h.strip() for h in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not trusted(hop):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return remote  # garbage in the header: fall back to the proxy's own address
    return remote
