"""Real servers on 127.0.0.1: ``redis-server`` and ``uvicorn`` processes, each on a free port,
started here and stopped here; and bounded waits for them and for any other condition."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

ROOT = Path(__file__).resolve().parents[2]  # the repository: uvicorn imports app factories from here

T = TypeVar("T")


# Under pytest-xdist (PYTEST_XDIST_WORKER gw0, gw1 ...) each worker takes its ports from a
# block of its own, 10000-19999 in all, below the kernel's ephemeral range (32768-60999 on
# Linux) and below the cluster bus ports (port + 10000), so two workers never choose the same
# port between choosing it and binding it. Once, with both asking the
# kernel, one worker's redis-server failed to bind and its tests talked to the other worker's,
# whose tests flushed their data mid-test.
PORT_BLOCK_START, PORT_BLOCK_SIZE, PORT_BLOCKS = 10000, 2500, 4
# Ports of those blocks Chromium will not load a page from (its "restricted ports": the rest of
# the list is below 10000): a demo shop there failed a browser test with ERR_UNSAFE_PORT.
BROWSER_UNSAFE = frozenset({10080})
_taken = [0]


def free_port() -> int:
    """A port nobody listens on now, on 127.0.0.1."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not (worker.startswith("gw") and worker[2:].isdigit()):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]
    first = PORT_BLOCK_START + int(worker[2:]) % PORT_BLOCKS * PORT_BLOCK_SIZE
    if not _taken[0]:
        _taken[0] = os.getpid() % PORT_BLOCK_SIZE  # a child process starts elsewhere in the block
    for _ in range(PORT_BLOCK_SIZE):
        _taken[0] += 1
        port = first + _taken[0] % PORT_BLOCK_SIZE
        if port in BROWSER_UNSAFE:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {first}-{first + PORT_BLOCK_SIZE - 1}")


def poll(fn: Callable[[], T], timeout: float = 10.0, every: float = 0.05) -> T:
    """Calls ``fn`` until it returns something truthy or ``timeout`` seconds have passed;
    returns its last value (falsy when it never held), for ``assert poll(...), why``."""
    deadline = time.monotonic() + timeout
    value = fn()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = fn()
    return value


def wait_for(check: Callable[[], Any], timeout: float = 15.0, what: str = "server") -> None:
    """Like ``poll``, for something starting up: an exception from ``check`` means "not yet",
    and a timeout raises RuntimeError naming ``what`` and the last exception."""
    last: list[Exception] = []

    def ready() -> bool:
        try:
            return bool(check())
        except Exception as exc:  # noqa: BLE001 - any failure means "not up yet"
            last[:] = [exc]
            return False

    if not poll(ready, timeout):
        raise RuntimeError(f"{what} did not come up in {timeout}s: {last[0] if last else None}")


def end(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, and SIGKILL if it is not gone within 10 s: a test never leaves a server behind."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class RedisServer:
    """A private redis-server: its own port and directory. No persistence, unless
    ``persist``: then every write is in its append-only file before it is acknowledged, so
    ``kill()`` (an outage: SIGKILL) and ``start()`` (on the same port) lose nothing."""

    def __init__(self, persist: bool = False) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed; run scripts/test, which installs it")
        self.binary = binary
        self.persist = persist
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="beckon-redis-")
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        durability = ["--appendonly", "yes", "--appendfsync", "always"] if self.persist else \
            ["--appendonly", "no"]
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.dir,
             "--save", "", *durability, "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def ping() -> bool:
            if self.proc.poll() is not None:  # another server holds the port: never talk to that one
                raise RuntimeError(f"redis-server exited with {self.proc.returncode} (port {self.port} taken?)")
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")

        try:
            wait_for(ping, what="redis-server")
        except BaseException:
            self.proc.kill()  # never leave it behind
            self.proc.wait()
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    kind = "single"

    @property
    def queue_url(self) -> str:
        return self.url  # the job queue shares the one Redis

    def flushall(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(b"FLUSHALL\r\n")
            s.recv(16)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def kill(self) -> None:
        """Gone at once, as in a crash: clients see their connections reset."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        end(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class WebServer:
    """``uvicorn`` running an app factory in its own process(es)."""

    def __init__(self, factory: str, env: dict[str, str], workers: int = 1, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.NamedTemporaryFile(prefix="beckon-web-", suffix=".log", delete=False)
        self._final: str | None = None  # the log, once stopped
        if factory == "backend.app:create_app":  # the product: started as operators start it
            argv = ["-m", "backend.cli", "serve", "--log-level", "warning"]
        else:
            argv = ["-m", "uvicorn", factory, "--factory", "--log-level", "warning", "--ws-per-message-deflate",
                    "false"]
        self.proc = subprocess.Popen(
            [sys.executable, *argv, "--host", "127.0.0.1", "--port", str(self.port), "--workers", str(workers)],
            # no holdout unless a test asks for one: its visitors expect help
            env={"BECKON_HOLDOUT_DEFAULT": "0", **os.environ, **env},
            cwd=ROOT,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for(lambda: urllib.request.urlopen(self.url + "/healthz", timeout=1).status == 200,
                     what=f"{factory} on {self.port}")
        except BaseException as exc:
            log = self.output()[-3000:]
            self.stop()  # never leave it behind
            if isinstance(exc, RuntimeError):
                raise RuntimeError(f"{exc}\n--- its log:\n{log}") from None
            raise

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        if self._final is not None:
            return self._final
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        """Ends the process; its log stays readable here (``output``), not in /tmp, where a
        suite run used to leave a file per server it started."""
        end(self.proc)
        if self._final is None:
            self._final = self.output()
            self.log.close()
            Path(self.log.name).unlink(missing_ok=True)
