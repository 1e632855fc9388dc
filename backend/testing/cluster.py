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
             "--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--protected-mode", "yes",
             # a replica's first sync starts at once, not after 5 s of waiting for more replicas to
             # share it: a node brought back after a failover is a working replica within a second
             "--repl-diskless-sync-delay", "0"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: _send(self.port, "PING").startswith("+PONG"), what=f"redis node {self.port}")

    def kill(self) -> None:
        if self.proc:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def info(self, what: str) -> str:
        return _send(self.port, "CLUSTER", "INFO") if what == "cluster" else _send(self.port, "INFO", what)

    def command(self, *command: str) -> str:
        """One command to this node alone (CONFIG SET, CLIENT KILL, ...), its reply as text."""
        return _send(self.port, *command)

    def replicas(self) -> dict[int, str]:
        """The replicas connected to this node (a master): port -> state, 'online' once in sync."""
        found = {}
        for line in self.info("replication").splitlines():
            if line.startswith("slave") and "port=" in line:
                fields = dict(part.split("=", 1) for part in line.split(":", 1)[1].split(",") if "=" in part)
                found[int(fields["port"])] = fields.get("state", "")
        return found

    @property
    def is_master(self) -> bool:
        return "role:master" in self.info("replication")

    def cut_off(self) -> None:
        """This replica loses its master and cannot get it back, as when the network between
        them fails, and stays a healthy member of the cluster (a failover can promote it): the
        master refuses a handshake that offers a password it does not have."""
        if not self.command("CONFIG", "SET", "masterauth", "not-the-masters").startswith("+OK"):
            raise RuntimeError(f"node {self.port} refused CONFIG SET")
        self.command("CLIENT", "KILL", "TYPE", "master")
        if not poll(lambda: "master_link_status:down" in self.info("replication")):
            raise RuntimeError(f"node {self.port} kept its link to its master")

    def relink(self) -> None:
        """The network is back (after ``cut_off``): the replica resynchronises by itself."""
        self.command("CONFIG", "SET", "masterauth", "")


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
        return [n for n in self.nodes if n.proc and n.is_master]

    def shard(self, master_port: int) -> tuple[Node, Node]:
        """A master (by port, e.g. the one a client names for a key) and its replica, once in sync."""
        master = next(n for n in self.nodes if n.port == master_port)
        if not poll(lambda: "online" in master.replicas().values(), timeout=20):
            raise RuntimeError(f"master {master_port} has no replica in sync")
        replica = next(iter(master.replicas()))
        return master, next(n for n in self.nodes if n.port == replica)

    def heal(self) -> None:
        """After faults (``Node.kill``, ``Node.cut_off``): every node up and linked again, each
        master with a replica in sync (a dead master comes back as its successor's replica)."""
        for node in self.nodes:
            if node.proc is None:
                node.start()
            node.relink()
        def in_sync() -> bool:
            return all("online" in m.replicas().values() for m in self.masters())

        if not poll(in_sync, timeout=30) or not poll(self.healthy, timeout=30):
            raise RuntimeError("the cluster did not heal: a master without a replica in sync, or not ok")

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
