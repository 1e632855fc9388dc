"""A secret shown once across a redirect (domain/reveals.py): taken once, only by the person
who made it, on their site; an odd or unknown token is nothing."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_a_secret_is_taken_once_by_whoever_made_it(client: TestClient, site: dict) -> None:
    reveals = client.app.state.services.reveals
    key = site["key"]
    token = client.portal.call(reveals.put, key, "rep-a", {"value": "whsec_x"})
    assert client.portal.call(reveals.take, key, "rep-b", token) is None  # another person: nothing (and it is gone)
    token = client.portal.call(reveals.put, key, "rep-a", {"value": "whsec_x"})
    assert client.portal.call(reveals.take, "another-site", "rep-a", token) is None
    assert client.portal.call(reveals.take, key, "rep-a", token) == {"value": "whsec_x"}
    assert client.portal.call(reveals.take, key, "rep-a", token) is None  # once
    for odd in ("", "x" * 65, "../x", "\ud800", "a b"):
        assert client.portal.call(reveals.take, key, "rep-a", odd) is None
