"""HAProxy from the distribution in front of several web hosts, on a free port, configured as
``deploy/haproxy.cfg`` is (round robin, health checks, WebSockets, no stickiness)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import urllib.request
from pathlib import Path

from backend.testing.servers import end, free_port, wait_for

CONFIG = """
global
    maxconn 4096
defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
frontend beckon
    bind 127.0.0.1:{port}
    default_backend hosts
backend hosts
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
{servers}
"""


class Balancer:
    def __init__(self, hosts: list[str], port: int | None = None) -> None:
        binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not Path(binary).exists():
            raise RuntimeError("haproxy is not installed; run scripts/test, which installs it")
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="beckon-lb-"))
        servers = "\n".join(f"    server web{i} {h.split('://')[-1]} check inter 1s fall 2 rise 1"
                            for i, h in enumerate(hosts))
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(CONFIG.format(port=self.port, servers=servers))
        self.proc = subprocess.Popen([binary, "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        wait_for(lambda: urllib.request.urlopen(self.url + "/healthz", timeout=1).status == 200,
                 what="haproxy")

    def stop(self) -> None:
        end(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)
