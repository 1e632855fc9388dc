"""A webhook receiver on 127.0.0.1, in a thread: what a site's CRM would run. It checks each
delivery's signature as Standard Webhooks' libraries do (core/orders.py:signature_problem),
keeps what came, drops a webhook-id it processed already (as a receiver should), and can be
told to answer 500 to the first N deliveries. For the tests and scripts/bench/notify.py."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from backend.core.orders import signature_problem


@dataclass
class Delivery:
    id: str
    body: bytes
    headers: dict[str, str]
    problem: str | None  # why the signature failed; None when it held
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    def __init__(self, secret: str = "", fail_first: int = 0, status: int = 500,
                 process_failed: bool = False) -> None:
        """``process_failed``: the failed answers come after processing, as when a receiver's
        answer is lost on the way back; the sender's retry must then change nothing."""
        self.secret = secret
        self.fail_first = fail_first
        self.fail_status = status
        self.deliveries: list[Delivery] = []
        self.processed: dict[str, bytes] = {}  # webhook-id -> body, each once
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                msg_id = headers.get("webhook-id", "")
                problem = signature_problem(outer.secret, msg_id, headers.get("webhook-timestamp", ""),
                                            headers.get("webhook-signature", ""), body, time.time())
                with outer.lock:
                    if outer.fail_first > 0:
                        outer.fail_first -= 1
                        status = outer.fail_status
                        if process_failed and not problem:
                            outer.processed.setdefault(msg_id, body)
                    elif problem:
                        status = 401
                    else:
                        status = 200
                        outer.processed.setdefault(msg_id, body)  # a duplicate is acknowledged, not processed
                    outer.deliveries.append(Delivery(msg_id, body, headers, problem, status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
