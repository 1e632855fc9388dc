"""Visitor tokens: an HMAC of (site, visitor id), handed to the page with the collector's
answer, so that only that page can read its offers and chats."""

from __future__ import annotations

import base64
import hashlib
import hmac


def visitor_token(secret: str, site: str, vid: str) -> str:
    mac = hmac.new(secret.encode(), f"v1|{site}|{vid}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def check_visitor_token(secret: str, site: str, vid: str, token: object) -> bool:
    return isinstance(token, str) and hmac.compare_digest(token, visitor_token(secret, site, vid))
