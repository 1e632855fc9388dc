"""Lua scripts, called by SHA (redis-py loads them again after a SCRIPT FLUSH or a restart)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import redis.asyncio as aioredis

LUA_DIR = Path(__file__).parent / "lua"


@cache
def source(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text()


class Scripts:
    """Every script, registered on one client."""

    def __init__(self, client: aioredis.Redis) -> None:
        self.ingest = client.register_script(source("ingest"))
        self.broker = client.register_script(source("broker"))
        self.withdraw = client.register_script(source("withdraw"))
        self.respond = client.register_script(source("respond"))
        self.claim = client.register_script(source("claim"))
        self.end_chat = client.register_script(source("end_chat"))
        self.transfer = client.register_script(source("transfer"))
        self.say = client.register_script(source("say"))
