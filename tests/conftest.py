from __future__ import annotations

from typing import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from tests.servers import RedisServer

ADMIN = "test-admin-token"
ORIGIN = "https://shop.example"


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


def admin(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture()
def site(client: TestClient) -> dict:
    r = client.post("/v1/sites", json={"name": "Shop", "origins": [ORIGIN]}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()


# --- Real servers and a real browser, for tests of what a person sees ------------------

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        b.close()


class Live:
    """The web server and the demo shop, each in its own uvicorn process."""

    def __init__(self, redis_url: str, workers: int = 1, env: dict[str, str] | None = None) -> None:
        import httpx

        from tests.servers import WebServer, free_port

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        base = {"BECKON_REDIS_URL": redis_url, "BECKON_ADMIN_TOKEN": ADMIN, "BECKON_PUBLIC_URL": self.url,
                **(env or {})}
        self.web = WebServer("backend.app:create_app", base, workers=workers, port=port)
        self.api = httpx.Client(base_url=self.url, headers=admin(), timeout=10)
        demo_port = free_port()
        self.demo_url = f"http://127.0.0.1:{demo_port}"
        r = self.api.post("/v1/sites", json={"name": "Demo", "origins": [self.demo_url]})
        r.raise_for_status()
        self.site = r.json()
        self.demo = WebServer("backend.demo.app:create_app",
                              {**base, "BECKON_DEMO_SITE_KEY": self.site["key"]}, port=demo_port)

    def visitor(self, vid: str) -> dict | None:
        r = self.api.get(f"/v1/sites/{self.site['key']}/visitors/{vid}")
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        self.api.close()
        self.demo.stop()
        self.web.stop()


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


class Smtp:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives."""

    def __init__(self) -> None:
        import email
        import email.policy

        from aiosmtpd.controller import Controller

        from tests.servers import free_port

        self.messages: list = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                outer.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for_message(self, timeout: float = 10.0):
        import time

        deadline = time.monotonic() + timeout
        while not self.messages and time.monotonic() < deadline:
            time.sleep(0.05)
        assert self.messages, "no mail arrived"
        return self.messages.pop(0)

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture()
def smtp() -> Iterator[Smtp]:
    server = Smtp()
    yield server
    server.stop()


def run_worker(settings: Settings, smtp: Smtp) -> None:
    """The real job worker, as its own process, until the queue is empty."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "BECKON_REDIS_URL": settings.redis_url, "BECKON_SMTP_PORT": str(smtp.port)}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker", "--burst"], env=env, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def pytest_collection_modifyitems(config, items) -> None:
    """Browser tests last: Playwright's sync API keeps an event loop running in the main
    thread once the browser starts, and code under test that calls asyncio.run (the CLI,
    the job worker) must not run after it in the same thread."""
    items.sort(key=lambda item: "browser" in getattr(item, "fixturenames", ()))


def wait_js(page, expression: str, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is truthy in the page, polling from here: Playwright's
    wait_for_function polls inside the page with eval, which a strict Content-Security-Policy
    (the demo shop's, the console's) forbids, so it would only ever see its first check."""
    import time

    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        time.sleep(0.05)
