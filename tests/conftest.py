"""Fixtures: a private redis-server for the session, the app under a TestClient, a site,
the live servers, Chromium, an SMTP sink. What tests share besides fixtures is in
tests/helpers.py."""

from __future__ import annotations

import os
from typing import Iterator

import pytest
import redis
from starlette.testclient import TestClient

from backend.app import create_app
from backend.config import Settings
from backend.testing import chromium
from backend.testing.cluster import ClusterStore, sync_client
from backend.testing.servers import RedisServer
from tests.helpers import ADMIN, ORIGIN, Live, Smtp, admin


# Every test that touches Redis runs against a single Redis and against a 3-master Redis
# Cluster with a replica each (BECKON_TEST_STORES=single runs only the first, for a quicker
# local run). Browser tests run against the single Redis, and those marked ``cluster_too``
# against the cluster as well; tests marked ``cluster_only`` (failover) only against the cluster.
STORES = [s for s in os.environ.get("BECKON_TEST_STORES", "single,cluster").split(",") if s]


@pytest.fixture(scope="session", params=STORES)
def redis_server(request: pytest.FixtureRequest) -> Iterator[RedisServer | ClusterStore]:
    server = RedisServer() if request.param == "single" else ClusterStore()
    before = os.environ.get("BECKON_QUEUE_URL")
    if server.kind == "cluster":  # for the processes tests start: web servers, the job worker
        os.environ["BECKON_QUEUE_URL"] = server.queue_url
    yield server
    if before is None:
        os.environ.pop("BECKON_QUEUE_URL", None)
    else:
        os.environ["BECKON_QUEUE_URL"] = before
    server.stop()


@pytest.fixture()
def redis_client(redis_server: RedisServer | ClusterStore) -> Iterator[redis.Redis]:
    redis_server.flushall()
    client = sync_client(redis_server.url)
    yield client
    client.close()


@pytest.fixture()
def settings(redis_server: RedisServer | ClusterStore, tmp_path) -> Settings:
    # holdout 0: the suite's needy visitors (visitor-0001, ...) are all offered help; the
    # holdout's own tests set a share. Uploaded documents go to the test's own folder.
    return Settings(redis_url=redis_server.url, admin_token=ADMIN, rate_visitor_per_min=100, rate_ip_per_min=1000,
                    queue_redis_url=redis_server.queue_url, holdout_default=0.0, media_dir=str(tmp_path / "media"),
                    media_max_bytes=256 * 1024)


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
    def on_cluster(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        return bool(callspec) and callspec.params.get("redis_server") == "cluster"

    def browser(item: pytest.Item) -> bool:
        return "browser" in getattr(item, "fixturenames", ())

    def marked(item: pytest.Item, name: str) -> bool:
        return item.get_closest_marker(name) is not None

    skipped = [i for i in items if marked(i, "cluster_only") and not on_cluster(i)
               or browser(i) and on_cluster(i) and not marked(i, "cluster_too") and not marked(i, "cluster_only")]
    if skipped:
        config.hook.pytest_deselected(items=skipped)
        items[:] = [i for i in items if i not in skipped]
    items.sort(key=lambda item: (browser(item), on_cluster(item)))
