"""The edge: parse, authenticate, CORS and status codes, then one call into the domain.
No key names and no Redis calls here."""
