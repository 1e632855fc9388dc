"""The one shape of a validation failure: every problem found, as (field path, message)."""

from __future__ import annotations

import re


class ValidationError(ValueError):
    """Raised by validators that check a whole input, so the user sees every problem at once."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


# An address we could answer: one @, no spaces, sane lengths. Deliverability is the mail
# server's business.
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}$")
