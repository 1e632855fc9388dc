"""``scripts/start --hosts 2`` as an operator runs it: a Redis Cluster, the job queue's Redis,
two web hosts behind HAProxy, the worker, the mail sink and the demo shop, on free ports and a
private run directory. Requests through the balancer reach both hosts, the demo shop loads
Beckon from the balancer, a page view lands in the cluster, and SIGTERM stops every process
within 10 s."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

from backend.testing.servers import ROOT, free_port, poll
from tests.helpers import batch

TOKEN = "start-hosts-admin-token"


def free_block(n: int, bus: bool = False) -> int:
    """The first of ``n`` consecutive free ports below the ephemeral range (with ``bus``, their
    cluster bus ports, port + 10000, free too)."""
    rng = random.Random()
    for _ in range(500):
        base = rng.randrange(10000, 22000)
        wanted = [base + i for i in range(n)] + ([base + 10000 + i for i in range(n)] if bus else [])
        socks: list[socket.socket] = []
        try:
            for port in wanted:
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports")


def group(pgid: int) -> dict[int, str]:
    """The live (not zombie) processes of a process group: pid -> command line."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state ppid pgrp ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            found[int(stat.parent.name)] = cmdline.strip()
    return found


def test_start_hosts_serves_through_the_balancer_and_stops_within_10_s(tmp_path: Path) -> None:
    port, demo, smtp, queue = free_port(), free_port(), free_port(), free_port()
    cluster, hosts = free_block(6, bus=True), free_block(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BECKON_")}
    env.update(BECKON_RUN_DIR=str(tmp_path / "run"), BECKON_PORT=str(port), DEMO_PORT=str(demo),
               BECKON_SMTP_PORT=str(smtp), BECKON_REDIS_PORT=str(queue), BECKON_CLUSTER_PORT=str(cluster),
               BECKON_HOSTS_PORT=str(hosts), BECKON_ADMIN_TOKEN=TOKEN)
    out = tmp_path / "start.out"
    with out.open("wb") as log:
        proc = subprocess.Popen([str(ROOT / "scripts" / "start"), "--hosts", "2"], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    lb, shop = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{demo}"
    try:
        def printed_running() -> bool:
            assert proc.poll() is None, f"scripts/start exited:\n{out.read_text()}"
            return "Beckon is running" in out.read_text()

        assert poll(printed_running, timeout=60, every=0.25), out.read_text()

        # round robin, no stickiness: fresh requests are answered by both hosts in turn
        answered = {httpx.get(lb + "/healthz", timeout=5).json()["host"].rsplit(":", 1)[1] for _ in range(6)}
        assert answered == {str(hosts), str(hosts + 1)}

        # the demo shop loads Beckon from the balancer, which serves it
        page = httpx.get(shop + "/", timeout=5)
        assert page.status_code == 200 and f'src="{lb}/b.js"' in page.text
        assert httpx.get(lb + "/b.js", timeout=5).status_code == 200

        # a page view through the balancer lands in the cluster, and either host reads it back
        view = batch("demo-shop-0001", [{"t": "pv", "url": shop + "/product/kayak", "title": "Kayak"}],
                     vid="visitor-start-0001")
        r = httpx.post(lb + "/v1/events", content=json.dumps(view),
                       headers={"Origin": shop, "Content-Type": "text/plain;charset=UTF-8"}, timeout=5)
        assert r.status_code == 200, r.text
        for _ in range(2):
            visitors = httpx.get(lb + "/v1/sites/demo-shop-0001/visitors",
                                 headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5).json()
            assert "visitor-start-0001" in json.dumps(visitors)

        running = group(proc.pid)
        commands = "\n".join(running.values())
        assert commands.count("[cluster]") == 6, commands  # redis-server names itself so
        for what in (f":{queue}", "haproxy", f"--port {hosts} ", f"--port {hosts + 1} ", "aiosmtpd",
                     "beckon worker", "backend.demo.app"):
            assert what in commands + " ", f"{what} is not running:\n{commands}"

        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        took = time.monotonic() - t0
        left = {pid: cmd for pid, cmd in group(proc.pid).items() if pid in running}
        assert took < 10, f"stopping took {took:.1f} s"
        assert left == {}, f"still running after scripts/start exited: {left}"
        assert "beckon: stopping" in out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in group(proc.pid):  # never leave a server behind
            os.kill(pid, signal.SIGKILL)
