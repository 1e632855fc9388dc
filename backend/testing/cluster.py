"""A private Redis Cluster for tests and benchmarks: three masters with a replica each, on free
ports and private directories, made with ``redis-cli --cluster create`` as an operator would.

``url`` is what ``BECKON_REDIS_URL`` takes to use it (``redis+cluster://host:port``: any node;
the client learns the rest). Nodes can be killed and brought back to test failover.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from backend.testing.servers import free_port, poll, wait_for

MASTERS = 3


def cluster_port() -> int:
    """A free port whose cluster bus port (port + 10000) is free and exists too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _send(port: int, *command: str) -> str:
    """One command over a raw socket, its reply as text (enough for PING, INFO, CLUSTER INFO)."""
    parts = [f"*{len(command)}\r\n"] + [f"${len(c.encode())}\r\n{c}\r\n" for c in command]
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall("".join(parts).encode())
        s.settimeout(1)
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            data += chunk
            if data.startswith((b"+", b"-", b":")) and data.endswith(b"\r\n"):
                break
            if data.startswith(b"$") and data.count(b"\r\n") >= 2:
                break
    return data.decode(errors="replace")


class Node:
    def __init__(self, binary: str, root: Path, port: int) -> None:
        self.binary, self.port = binary, port
        self.dir = root / str(port)
        self.dir.mkdir()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _send(self.port, "PING").startswith("+PONG"), what=f"redis node {self.port}")

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def info(self, what: str) -> str:
        return _send(self.port, "CLUSTER", "INFO") if what == "cluster" else _send(self.port, "INFO", what)


class RedisCluster:
    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        if not binary or not cli:
            raise RuntimeError("redis-server / redis-cli are not installed; run scripts/test, which installs them")
        self.root = Path(tempfile.mkdtemp(prefix="beckon-cluster-"))
        self.nodes: list[Node] = []
        try:
            for _ in range(MASTERS * 2):
                self.nodes.append(Node(binary, self.root, cluster_port()))
            made = subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                                   "--cluster-replicas", "1", "--cluster-yes"],
                                  capture_output=True, text=True, timeout=60)
            if made.returncode != 0:
                raise RuntimeError("redis-cli --cluster create failed: " + made.stdout[-1500:] + made.stderr[-500:])
            if not poll(self.healthy, timeout=30, every=0.2):
                raise RuntimeError("the cluster did not reach cluster_state:ok")
        except BaseException:
            self.stop()
            raise
        self.url = f"redis+cluster://127.0.0.1:{self.nodes[0].port}"

    def healthy(self) -> bool:
        """Every live node says the cluster is ok and knows all six nodes."""
        live = [n for n in self.nodes if n.proc]
        return all("cluster_state:ok" in n.info("cluster") and f"cluster_known_nodes:{len(self.nodes)}"
                   in n.info("cluster") for n in live)

    def masters(self) -> list[Node]:
        return [n for n in self.nodes if n.proc and "role:master" in n.info("replication")]

    def flushall(self) -> None:
        for node in self.masters():
            _send(node.port, "FLUSHALL")
        # a replica applies the flush asynchronously; let it catch up before the next test reads
        time.sleep(0.05)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def sync_client(url: str, decode_responses: bool = True) -> Any:
    """A synchronous client for tests and benchmarks, for either kind of BECKON_REDIS_URL."""
    import redis
    from redis.cluster import RedisCluster as SyncCluster

    if url.startswith("redis+cluster://"):
        return SyncCluster.from_url("redis://" + url[len("redis+cluster://"):], decode_responses=decode_responses)
    return redis.Redis.from_url(url, decode_responses=decode_responses)


class ClusterStore:
    """What the tests run against in cluster mode: the cluster for Beckon's data, and a single
    Redis of its own for the job queue (rq cannot use a cluster)."""

    kind = "cluster"

    def __init__(self) -> None:
        from backend.testing.servers import RedisServer

        self.cluster = RedisCluster()
        try:
            self.queue = RedisServer()
        except BaseException:
            self.cluster.stop()
            raise
        self.url = self.cluster.url
        self.queue_url = self.queue.url

    def flushall(self) -> None:
        self.cluster.flushall()
        self.queue.flushall()

    def stop(self) -> None:
        self.cluster.stop()
        self.queue.stop()
