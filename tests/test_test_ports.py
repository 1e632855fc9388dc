"""The test harness's ports (backend/testing/servers.py): each xdist worker takes its own, and
never one Chromium refuses to load a page from (a demo shop on 10080 once failed a browser
test with ERR_UNSAFE_PORT)."""

from __future__ import annotations

import pytest

from backend.testing import servers


def test_a_workers_ports_skip_the_ones_chromium_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw0")
    monkeypatch.setattr(servers, "_taken", [10080 - servers.PORT_BLOCK_START - 2])
    got = [servers.free_port() for _ in range(4)]
    assert 10080 not in got and got == sorted(got)
    assert all(servers.PORT_BLOCK_START <= p < servers.PORT_BLOCK_START + servers.PORT_BLOCK_SIZE for p in got)
