"""Signed, time-limited links by which a customer downloads a document a representative sent
in a chat. The customer has no login, so the link itself is the permission: an HMAC-SHA256,
under the server's secret, over the site, the material and the stored file's id (a replaced
file, which gets a new random id, makes every old link fail) and the expiry.

Pure: the secret and the time are passed in; nothing reads the environment or the clock.
Every part a link carries is checked by its pattern before it is used anywhere.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from enum import Enum

from backend.core.protocol import ID_RE

# A week: long enough for a customer to come back to the chat's pop-up or its e-mailed
# transcript and download the document after thinking it over (a chat itself lasts a day
# after its last message), short enough that a link forwarded or left in a mailbox stops
# working on its own. Replacing or archiving the material revokes its links at once.
LINK_TTL_S = 7 * 86400

PURPOSE = b"beckon-download-v1"  # the secret key signs other things too (sessions): never the same message
EXP_RE = re.compile(r"^[0-9]{1,11}\Z")  # seconds since the epoch
SIG_RE = re.compile(r"^[A-Za-z0-9_-]{43}\Z")  # 32 bytes, base64url without padding
STORED_RE = re.compile(r"^[0-9a-f]{32}\Z")  # how domain/media.py names stored files (it uses this one)
PREFIX = "/v1/d"


class Verdict(Enum):
    GOOD = "good"
    EXPIRED = "expired"  # signed by us, but too old
    BAD = "bad"  # malformed, forged, or for another site, material or file


def sign(secret: str, site: str, mid: str, stored: str, exp: int) -> str:
    """The signature of one download, base64url without padding."""
    message = b"\n".join([PURPOSE, site.encode(), mid.encode(), stored.encode(), str(exp).encode()])
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def path(secret: str, site: str, mid: str, stored: str, now_s: float, ttl_s: int = LINK_TTL_S) -> str:
    """``/v1/d/SITE/MID/EXP/SIG``, valid until ``now_s + ttl_s``."""
    if not (ID_RE.fullmatch(site) and ID_RE.fullmatch(mid) and STORED_RE.fullmatch(stored)):
        raise ValueError("not a site key, material id or stored file id")
    exp = int(now_s) + ttl_s
    return f"{PREFIX}/{site}/{mid}/{exp}/{sign(secret, site, mid, stored, exp)}"


def well_formed(site: str, mid: str, exp: str, sig: str) -> bool:
    """Each part a link carries matches its pattern (checked before any lookup)."""
    return all(isinstance(v, str) for v in (site, mid, exp, sig)) and bool(
        ID_RE.fullmatch(site) and ID_RE.fullmatch(mid) and EXP_RE.fullmatch(exp) and SIG_RE.fullmatch(sig))


def verify(secret: str, site: str, mid: str, stored: str, exp: str, sig: str, now_s: float) -> Verdict:
    """Whether the link is ours for this very file, compared in constant time; an expired
    link is told apart only when its signature is good (a forger learns nothing)."""
    if not well_formed(site, mid, exp, sig) or not (isinstance(stored, str) and STORED_RE.fullmatch(stored)):
        return Verdict.BAD
    if not hmac.compare_digest(sign(secret, site, mid, stored, int(exp)), sig):
        return Verdict.BAD
    return Verdict.GOOD if now_s <= int(exp) else Verdict.EXPIRED
