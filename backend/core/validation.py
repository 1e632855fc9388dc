"""The one shape of a validation failure: every problem found, as (field path, message)."""

from __future__ import annotations


class ValidationError(ValueError):
    """Raised by validators that check a whole input, so the user sees every problem at once."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors
