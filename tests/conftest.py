"""Fixtures: a private redis-server for the session, the app under a TestClient, a site,
the live servers, Chromium, an SMTP sink. What tests share besides fixtures is in
tests/helpers.py."""

from __future__ import annotations

from typing import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.testing import chromium
from backend.testing.servers import RedisServer
from tests.helpers import ADMIN, ORIGIN, Live, Smtp, admin


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    client.flushall()
    yield client
    client.close()


@pytest.fixture()
def settings(redis_server: RedisServer) -> Settings:
    return Settings(redis_url=redis_server.url, admin_token=ADMIN, rate_visitor_per_min=100, rate_ip_per_min=1000)


@pytest.fixture()
def client(settings: Settings, redis_client: redis.Redis) -> Iterator[TestClient]:
    with TestClient(create_app(settings), base_url="http://beckon.test") as c:
        yield c


@pytest.fixture()
def site(client: TestClient) -> dict:
    r = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()


# --- Real servers and a real browser, for tests of what a person sees ------------------

@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = chromium.launch(p)
        yield b
        b.close()


@pytest.fixture()
def live(redis_server: RedisServer, redis_client) -> Iterator[Live]:
    server = Live(redis_server.url)
    yield server
    server.stop()


@pytest.fixture()
def live2(redis_server: RedisServer, redis_client) -> Iterator[Live]:
    """The web server with two worker processes: pushes must cross between them."""
    server = Live(redis_server.url, workers=2)
    yield server
    server.stop()


@pytest.fixture()
def page_errors():
    """Collects console errors and uncaught exceptions from pages it is attached to."""
    found: list[str] = []

    def attach(page) -> list[str]:
        page.on("console", lambda m: found.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: found.append(f"uncaught: {e}"))
        return found

    return attach


@pytest.fixture()
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.stop()


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread once the browser starts, and code under test that calls asyncio.run (the CLI,
    the job worker) must not run after it in the same thread."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))
