"""Password hashes: argon2id with OWASP's parameters (19 MiB, 2 passes, 1 lane), through
argon2-cffi. Hashes from before (scrypt, N=2^14) still verify and are replaced at the next
login."""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
LEGACY_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
# Verified when no account matches, so a wrong e-mail costs what a wrong password does.
DUMMY = HASHER.hash("no such account")


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_password(password: str, stored: str) -> bool:
    if stored.startswith("scrypt$"):
        return _check_scrypt(password, stored)
    try:
        return HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return stored.startswith("scrypt$") or HASHER.check_needs_rehash(stored)


def _check_scrypt(password: str, stored: str) -> bool:
    try:
        _, salt, digest = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), dklen=32, **LEGACY_SCRYPT)
        return hmac.compare_digest(got, base64.b64decode(digest))
    except ValueError:
        return False
