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
