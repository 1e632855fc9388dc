"""Outbound webhooks, the pure part: which events there are, what an endpoint's settings may
be, the envelope an event travels in, its signature, and when a failed delivery is tried again.

Signed as the orders a shop posts to Beckon are checked (core/orders.py, Standard Webhooks):
``webhook-id`` (the event's id, the same on every retry and resend, so a receiver drops what it
took already), ``webhook-timestamp`` (seconds, at each attempt) and ``webhook-signature``
(``v1,`` + base64 of HMAC-SHA256 over ``"<id>.<timestamp>.<body>"`` under the endpoint's
``whsec_`` secret). One signing function serves both directions.

Settings are read with every problem listed as (path, message); nothing here raises on what a
JSON decoder can produce.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import urlsplit

from backend.core.orders import signature, signature_problem  # one signing scheme, both ways
from backend.core.validation import is_text

EVENTS = ("customer.upserted", "lead.created", "order.created",
          "alert.new_lead", "alert.purchase", "alert.customer_needs_help")
URL_MAX = 2048
DESCRIPTION_MAX = 200
MAX_ENDPOINTS = 10
EVENT_ID_RE = re.compile(r"evt_[A-Za-z0-9_-]{8,100}")
ENDPOINT_ID_RE = re.compile(r"wh_[A-Za-z0-9]{8,40}")
HOST_RE = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?")
TIMEOUT_S = 10.0  # one attempt's whole budget: connect, send, answer
# Events in a row an endpoint may fail for good (each after every try of the schedule, about
# 2.5 hours) before it is paused: a receiver gone for good stops costing the queue its retries.
PAUSE_AFTER = 50

Errors = list[tuple[str, str]]

__all__ = ["EVENTS", "Endpoint", "envelope", "headers", "is_address", "not_public", "parse_endpoint", "retry_after",
           "signature", "signature_problem", "stable_event_id", "url_problems"]


@dataclass(frozen=True)
class Endpoint:
    """Where a site's events go. ``secret`` signs them; shown once, at creation or rotation."""

    id: str
    url: str
    events: tuple[str, ...]
    active: bool = True
    description: str = ""
    secret: str = ""
    created_ms: int = 0

    def public(self) -> dict[str, Any]:
        """What the API and the page show: everything but the secret."""
        return {"id": self.id, "url": self.url, "events": list(self.events), "active": self.active,
                "description": self.description, "created": self.created_ms}

    def stored(self) -> dict[str, Any]:
        return {**self.public(), "secret": self.secret}

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> "Endpoint":
        return cls(id=data["id"], url=data["url"], events=tuple(data["events"]), active=bool(data["active"]),
                   description=data.get("description", ""), secret=data["secret"],
                   created_ms=int(data["created"]))

    def wants(self, event_type: str) -> bool:
        return self.active and event_type in self.events


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_address(host: str) -> bool:
    """Whether ``host`` (a URL's, without brackets) is an IP address rather than a name."""
    return _ip(host) is not None


def _local_host(host: str) -> bool:
    """A name or literal address that reaches this machine or its private network: where a
    webhook could probe what the internet cannot (cloud metadata, Redis, admin ports)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    address = _ip(name)
    return address is not None and (address.is_private or address.is_loopback or address.is_link_local
                                    or address.is_reserved or address.is_multicast or address.is_unspecified)


NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: an IPv4 address in its last 32 bits


def _as_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """The IPv4 address an IPv6 one carries and reaches (::ffff:a.b.c.d, 6to4, NAT64), else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped
        if address.sixtofour is not None:
            return address.sixtofour
        if address in NAT64:
            return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def not_public(addresses: Iterable[str]) -> list[str]:
    """Those of ``addresses`` (what a host name resolves to, as getaddrinfo gives them: IPv4 or
    IPv6, an IPv6 one maybe with a %zone) that a webhook must not reach, in their order, each
    once: private, loopback, link-local (169.254.169.254, cloud metadata), shared (100.64/10),
    multicast, reserved, unspecified; an IPv6 address carrying an IPv4 one (::ffff:127.0.0.1,
    6to4, NAT64) as that IPv4 one; anything that is not an address at all. A delivery goes ahead
    only when this is empty: one private address among public ones is enough to refuse, as the
    connection could be made to it."""
    refused: list[str] = []
    for raw in addresses:
        address = _ip(raw)
        if address is not None:
            address = _as_ipv4(address)
        if (address is None or not address.is_global or address.is_multicast or address.is_private
                or address.is_loopback or address.is_link_local or address.is_reserved
                or address.is_unspecified):
            if raw not in refused:
                refused.append(raw)
    return refused


def url_problems(raw: Any, allow_http: bool, path: str = "url") -> Errors:
    """Why ``raw`` is no URL to deliver to; [] when it is one. https only (``allow_http``, for
    development: http and local addresses too); no credentials, fragment, spaces or control
    characters."""
    if not isinstance(raw, str) or not raw:
        return [(path, "is required: the https:// address that receives the events")]
    if not is_text(raw):
        return [(path, "must be text (it holds a lone UTF-16 surrogate such as \\ud800)")]
    if len(raw) > URL_MAX:
        return [(path, f"must be at most {URL_MAX} characters")]
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in raw) or not raw.isascii():
        return [(path, "must have no spaces, control or non-ASCII characters (percent-encode them)")]
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return [(path, "is not a URL (its host or port cannot be read)")]
    errors: Errors = []
    scheme = parts.scheme.lower()
    if scheme == "http" and not allow_http:
        errors.append((path, "must start with https:// (events carry customers' details; http sends them "
                             "in the clear)"))
    elif scheme not in ("http", "https"):
        errors.append((path, "must start with https://"))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        errors.append((path, "must not hold a user name or password: the signature proves the sender"))
    if parts.fragment or "#" in raw:
        errors.append((path, "must not have a fragment (#...): it is never sent"))
    host = parts.hostname or ""
    if not host or len(host) > 253 or not (HOST_RE.fullmatch(host) or _ip(host)):
        errors.append((path, "must name a host, such as https://crm.example.com/hooks/beckon"))
    elif not allow_http and _local_host(host):
        errors.append((path, "must be a public address, not localhost or a private network's"))
    if port is not None and not 1 <= port <= 65535:
        errors.append((path, "has a port outside 1-65535"))
    return errors


def _events(raw: Any, errors: Errors) -> tuple[str, ...]:
    if not isinstance(raw, list) or not raw:
        errors.append(("events", "must be a list of one or more of: " + ", ".join(EVENTS)))
        return ()
    if len(raw) > len(EVENTS) * 2:
        errors.append(("events", f"must list each event at most once ({len(EVENTS)} exist)"))
        return ()
    chosen: list[str] = []
    for i, name in enumerate(raw):
        if not isinstance(name, str) or name not in EVENTS:
            errors.append((f"events[{i}]", "must be one of: " + ", ".join(EVENTS)))
        elif name not in chosen:
            chosen.append(name)
    return tuple(e for e in EVENTS if e in chosen)  # in EVENTS' order: two equal choices compare equal


def parse_endpoint(data: Any, allow_http: bool,
                   before: Endpoint | None = None) -> tuple[dict[str, Any], Errors]:
    """The settings ``data`` gives ({url, events, active, description}), or every problem with
    them. With ``before`` (an update) each field left out keeps its value."""
    if not isinstance(data, dict):
        return {}, [("", "must be a JSON object {url, events, active, description}")]
    errors: Errors = []
    out: dict[str, Any] = {}
    if "url" in data or before is None:
        errors += url_problems(data.get("url"), allow_http)
        if not errors:
            out["url"] = data["url"]
    if "events" in data or before is None:
        out["events"] = _events(data.get("events"), errors)
    if "active" in data:
        if not isinstance(data["active"], bool):
            errors.append(("active", "must be true or false"))
        else:
            out["active"] = data["active"]
    if "description" in data:
        text = data["description"]
        if not isinstance(text, str) or not is_text(text) or len(text) > DESCRIPTION_MAX:
            errors.append(("description", f"must be text of at most {DESCRIPTION_MAX} characters"))
        elif any(ord(c) < 32 for c in text):
            errors.append(("description", "must be one line, without control characters"))
        else:
            out["description"] = text.strip()
    unknown = sorted(k for k in data if k not in ("url", "events", "active", "description"))
    for key in unknown[:5]:
        errors.append((str(key)[:40] if is_text(key) else "?", "is not a setting of an endpoint "
                                                               "(url, events, active, description)"))
    return ({} if errors else out), errors


def envelope(event_id: str, event_type: str, created_ms: int, site: str, data: dict[str, Any]) -> bytes:
    """The body every endpoint gets for one event, byte for byte the same on every attempt."""
    return json.dumps({"id": event_id, "type": event_type, "created": created_ms, "site": site, "data": data},
                      separators=(",", ":"), ensure_ascii=False).encode()


def stable_event_id(site: str, event_type: str, subject: str) -> str:
    """The one id an event about ``subject`` (an order id) gets, however often it is emitted:
    a second emit finds it stored and queues nothing."""
    return "evt_" + hashlib.sha256(f"{site}\0{event_type}\0{subject}".encode()).hexdigest()[:32]


def headers(secret: str, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """What one attempt sends beside the body: signed when it is sent, so a receiver's clock
    check (5 minutes in Standard Webhooks' libraries) passes on a retry hours later."""
    return {"content-type": "application/json", "user-agent": "Beckon-Webhooks/1",
            "webhook-id": event_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, event_id, timestamp, body)}


def retry_after(attempt: int, schedule: tuple[int, ...]) -> int | None:
    """Seconds from failed attempt ``attempt`` (1 = the first) to the next; None after the last.
    ``schedule`` (Settings.webhook_retry_s) holds one delay per retry."""
    return schedule[attempt - 1] if 1 <= attempt <= len(schedule) else None


def failed_since_delivered(outcomes: Iterable[str]) -> tuple[bool, int]:
    """Of attempts' outcomes, in order: whether one was delivered, and how many events failed
    for good after the last that was ("retrying" ones are not decided yet)."""
    delivered, failed = False, 0
    for outcome in outcomes:
        if outcome == "delivered":
            delivered, failed = True, 0
        elif outcome == "failed":
            failed += 1
    return delivered, failed


def success(status: int) -> bool:
    """Only a 2xx: a redirect is not followed (give the final URL), anything else is retried."""
    return 200 <= status < 300
