"""What several test modules share: constants, request builders, waits, the live servers, the
SMTP sink, and the ways a test plays a visitor or a representative. Each is written once,
here; fixtures stay in conftest.py. No test module imports another test module
(tests/test_suite_layout.py checks that)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import os
import subprocess
import sys
import time
from typing import Any, Awaitable, Callable

from backend.config import Settings
from backend.core.orders import signature as order_signature
from backend.testing.servers import WebServer, free_port, poll

ADMIN = "test-admin-token"
ORIGIN = "https://shop.example"
TEXT = {"Origin": ORIGIN, "Content-Type": "text/plain;charset=UTF-8"}  # as the snippet posts a batch
PASSWORD = "a long password"
# A visitor struggling with the quote form: enough for the default rules to flag them.
NEEDY = [{"t": "pv", "url": "https://shop.example/quote", "title": "Quote", "visits": 1},
         {"t": "err", "field": "zip", "kind": "invalid"}, {"t": "err", "field": "zip", "kind": "submit"},
         {"t": "field", "name": "zip", "ms": 25_000}, {"t": "svc", "point": "quote"}]
VIP = "vip@example.com"  # flagged by setup_site
OFFER = "[data-beckon=offer]"


def sendable(text: str) -> bool:
    """What a JSON response and a page can carry: encodes as UTF-8 (no lone surrogate)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def admin(token: str = ADMIN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- waiting ------------------------------------------------------------------------------

def wait_js(page: Any, expression: str, timeout: float = 10.0) -> None:
    """Wait until ``expression`` is truthy in the page, polling from here: Playwright's
    wait_for_function polls inside the page with eval, which a strict Content-Security-Policy
    (the demo shop's, the console's) forbids, so it would only ever see its first check."""
    if not poll(lambda: page.evaluate(expression), timeout):
        raise AssertionError(f"still false after {timeout} s: {expression}")


def let_the_ticker_run(tick_s: float, passes: int = 2) -> None:
    """For asserting that something does NOT happen, where no event says it will not: sleep
    until the offer ticker (one run every ``tick_s``, Settings.offer_tick_s) has certainly made
    ``passes`` whole runs, whatever its phase."""
    time.sleep((passes + 1) * tick_s)


# --- a visitor and a site over the site API (TestClient or httpx) ---------------------------

def batch(site: str, events: list | None = None, vid: str = "visitor-0001", **extra) -> dict:
    return {
        "v": 1,
        "site": site,
        "vid": vid,
        "pid": "pageview-0001",
        "events": events if events is not None else [{"t": "pv", "url": "https://shop.example/", "title": "Home"}],
        **extra,
    }


# The token each (site, visitor) was given by its first batch, presented by later ones, as a
# page does: the collector answers with offers (and the token) only to the page holding it.
TOKENS: dict[tuple[str, str], str] = {}


def ingest(client: Any, key: str, vid: str, events: list = NEEDY) -> dict:
    """One batch through the collector; its answer (``cmd`` carries an offer, if any)."""
    extra = {"tok": TOKENS[(key, vid)]} if (key, vid) in TOKENS else {}
    r = client.post("/v1/events", content=json.dumps(batch(key, events, vid=vid, **extra)), headers=TEXT)
    assert r.status_code == 200, r.text
    answer = r.json()
    if answer.get("tok"):
        TOKENS[(key, vid)] = answer["tok"]
    return answer


def recv(ws: Any, timeout: float = 5.0) -> dict:
    """The next JSON frame of a TestClient WebSocket, or a failure after ``timeout`` (never a
    hung test)."""
    import anyio

    async def receive() -> Any:
        with anyio.fail_after(timeout):
            return await ws._send_rx.receive()

    message = ws.portal.call(receive)
    ws._raise_on_close(message)
    return json.loads(message["text"])


def expect(ws: Any, kind: str, check: Callable[[dict], bool] = lambda m: True, timeout: float = 5.0) -> dict:
    """Skips other frames until one of ``kind`` that passes ``check`` arrives."""
    while True:
        message = recv(ws, timeout)
        if message["type"] == kind and check(message):
            return message


def page_socket(client: Any, key: str, vid: str, origin: str = ORIGIN) -> Any:
    """The page's push connection (TestClient), opened as the snippet opens it: the token in
    the first frame, not in the URL. Use as a context manager."""
    ws = client.websocket_connect(f"/v1/push?site={key}&vid={vid}", headers={"Origin": origin})
    session = ws.__enter__()
    session.send_text(json.dumps({"type": "hello", "tok": TOKENS[(key, vid)]}))

    class Opened:
        def __enter__(self) -> Any:
            return session

        def __exit__(self, *exc: Any) -> None:
            ws.__exit__(*exc)

    return Opened()


def respond(client: Any, key: str, vid: str, tok: str, offer: str, action: str, **extra):
    """The page's answer to an offer: accept, dismiss or message."""
    return client.post(f"/v1/offers/{offer}/{action}",
                       content=json.dumps({"site": key, "vid": vid, "tok": tok, **extra}), headers=TEXT)


def offered(client: Any, key: str, vid: str) -> dict:
    """Heartbeats until the visitor's answer carries an offer; that answer. (Every 0.1 s: each
    heartbeat counts against the visitor's rate limit.)"""
    answer = poll(lambda: (a := ingest(client, key, vid, [{"t": "hb"}]))["cmd"] and a, every=0.1)
    assert answer, f"no offer reached {vid}"
    return answer


def waiting_request(client: Any, key: str, vid: str = "visitor-0001", events: list = NEEDY) -> str:
    """A visitor flagged through the collector who clicks HELP: a chat request waits."""
    ingest(client, key, vid, events)
    answer = offered(client, key, vid)
    r = respond(client, key, vid, answer["tok"], answer["cmd"]["id"], "accept")
    assert r.status_code == 200, r.text
    return r.json()["request"]


def make_rep(api: Any, key: str, *, email: str = "ria@example.com", name: str = "Ria", capacity: int = 1,
             role: str = "rep", password: str = PASSWORD) -> str:
    """A representative of site ``key``, made through the site API; their id."""
    r = api.post(f"/v1/sites/{key}/reps", json={"name": name, "email": email, "password": password,
                                                "capacity": capacity, "role": role}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def presence(api: Any, key: str, rid: str, status: str) -> None:
    r = api.put(f"/v1/sites/{key}/reps/{rid}/presence", json={"status": status}, headers=admin())
    assert r.status_code == 200, r.text


def chat_service(redis_url: str, fn: Callable[[Any, Any], Awaitable[Any]], **settings: Any) -> Any:
    """``fn(chats, redis)`` with the backend's chat service on a fresh connection, as another
    web worker (or the console) would call it (``settings``: Settings fields that differ from
    the defaults). In a thread of its own: Playwright's sync API may leave an event loop
    running in this one."""
    from backend.domain.services import Services

    async def main():
        services = Services.build(Settings(redis_url=redis_url, queue_redis_url=os.environ.get("BECKON_QUEUE_URL", ""),
                                           **settings))
        await services.open()
        try:
            return await fn(services.chats, services.redis)
        finally:
            await services.redis.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result(60)


# --- real processes: the live servers, the job worker, an SMTP sink -----------------------

class Live:
    """The web server and the demo shop, each in its own uvicorn process. With ``hosts`` > 1,
    that many web hosts behind HAProxy, and ``url`` is the balancer's."""

    def __init__(self, redis_url: str, workers: int = 1, env: dict[str, str] | None = None, hosts: int = 1) -> None:
        import httpx

        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.balancer: Any = None
        # the job queue: the cluster's own single Redis (conftest), or else this very Redis
        queue = os.environ.get("BECKON_QUEUE_URL", "") if redis_url.startswith("redis+cluster://") else redis_url
        base = {"BECKON_REDIS_URL": redis_url, "BECKON_QUEUE_URL": queue, "BECKON_ADMIN_TOKEN": ADMIN,
                "BECKON_PUBLIC_URL": self.url, **(env or {})}
        self.tick_s = float(base.get("BECKON_OFFER_TICK_S") or Settings.from_env().offer_tick_s)
        if hosts == 1:
            self.webs = [WebServer("backend.app:create_app", base, workers=workers, port=port)]
        else:
            from backend.testing.balancer import Balancer

            self.webs = [WebServer("backend.app:create_app", base, workers=workers) for _ in range(hosts)]
            self.balancer = Balancer([w.url for w in self.webs], port=port)
        self.web = self.webs[0]
        self.api = httpx.Client(base_url=self.url, headers=admin(), timeout=10)
        demo_port = free_port()
        self.demo_url = f"http://127.0.0.1:{demo_port}"
        r = self.api.post("/v1/sites", json={"name": "Demo", "origins": [self.demo_url]})
        r.raise_for_status()
        self.site = r.json()
        self.key = self.site["key"]
        self.demo = WebServer("backend.demo.app:create_app",
                              {**base, "BECKON_DEMO_SITE_KEY": self.key}, port=demo_port)

    def visitor(self, vid: str) -> dict | None:
        r = self.api.get(f"/v1/sites/{self.key}/visitors/{vid}")
        return r.json() if r.status_code == 200 else None

    def stop(self) -> None:
        self.api.close()
        self.demo.stop()
        if self.balancer:
            self.balancer.stop()
        for web in self.webs:
            web.stop()


class Smtp:
    """A real SMTP server (aiosmtpd) on a free port that keeps what it receives. With
    ``stall_first`` the first message hangs in DATA (``stalled`` is set) until ``released``
    is set, as a mail server that stops answering mid-send."""

    def __init__(self, stall_first: bool = False) -> None:
        import email
        import email.policy
        import threading

        from aiosmtpd.controller import Controller

        self.messages: list = []
        self.stalled, self.released = threading.Event(), threading.Event()
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
                if stall_first and not outer.stalled.is_set():
                    outer.stalled.set()
                    while not outer.released.is_set():
                        await asyncio.sleep(0.05)
                    return "451 try again later"
                outer.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def wait_for_message(self, timeout: float = 10.0):
        assert poll(lambda: self.messages, timeout), "no mail arrived"
        return self.messages.pop(0)

    def stop(self) -> None:
        self.controller.stop()


def run_worker(settings: Settings, smtp: Smtp | int) -> None:
    """The real job worker, as its own process, until the queue is empty. ``smtp``: the SMTP
    sink, or a port (where nothing may listen)."""
    port = smtp if isinstance(smtp, int) else smtp.port
    env = {**os.environ, "BECKON_REDIS_URL": settings.redis_url, "BECKON_QUEUE_URL": settings.queue_url, "BECKON_SMTP_PORT": str(port)}
    done = subprocess.run([sys.executable, "-m", "backend.cli", "worker", "--burst"], env=env, timeout=60,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def start_worker(settings: Settings, smtp: Smtp) -> subprocess.Popen:
    """The real job worker, running until it is stopped."""
    env = {**os.environ, "BECKON_REDIS_URL": settings.redis_url, "BECKON_QUEUE_URL": settings.queue_url, "BECKON_SMTP_PORT": str(smtp.port)}
    return subprocess.Popen([sys.executable, "-m", "backend.cli", "worker"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL to the worker and every process it started (its scheduler, and the work horse
    running a job, which rq puts in a process group of its own), as when the machine or
    container goes: nothing of it gets to clean up."""
    import signal
    from pathlib import Path

    if worker.returncode is not None:
        return  # stopped already (and its pid may be someone else's now)
    tree, found = {worker.pid}, True
    while found:  # the descendants, from each process's parent in /proc
        found = False
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                pid, ppid = int(stat.parent.name), int(stat.read_text().rsplit(")", 1)[1].split()[1])
                if ppid in tree and pid not in tree:
                    tree.add(pid)
                    found = True
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    worker.wait(10)


def console_login(client: Any, email: str, password: str = PASSWORD) -> str:
    """Logs a TestClient in to the console (replacing any session); the session's CSRF token."""
    import re

    client.cookies.clear()
    form = client.get("/console/login").text
    r = client.post("/console/login", data={"csrf": re.search(r'name="csrf" value="([^"]+)"', form).group(1),
                                            "email": email, "password": password, "next": "/console/"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return re.search(r'data-csrf="([^"]+)"', client.get("/console/").text).group(1)


# --- in the browser: a flagged shopper, a representative's console -------------------------

def setup_site(live: Live, **offer_settings) -> str:
    """The demo site flags VIP (and vip2@) and has one representative, Ria (capacity 1),
    not yet available; their id."""
    key = live.key
    live.api.put(f"/v1/sites/{key}/rules", json={"threshold": 0.5, "rules": {"flagged_customer": {"weight": 1}}})
    live.api.post(f"/v1/sites/{key}/flagged", json={"customers": [VIP, "vip2@example.com"]})
    if offer_settings:
        live.api.put(f"/v1/sites/{key}/offer-settings", json=offer_settings).raise_for_status()
    return make_rep(live.api, key, email="ria@shop.example")


def flagged_page(live: Live, browser: Any, page_errors: Callable, email: str = VIP, locale: str | None = None):
    """A shop page in a new browser context (whose browser prefers ``locale``, if given) whose
    visitor identified as a flagged customer, once the backend says they need assistance:
    (context, page, errors)."""
    context = browser.new_context(**({"locale": locale} if locale else {}))
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.demo_url + "/product/kayak")
    wait_js(page, "window.Beckon && window.Beckon.vid")
    page.evaluate(f"Beckon.identify({{email: '{email}'}}); Beckon.flush()")
    vid = page.evaluate("Beckon.vid")
    assert poll(lambda: (live.visitor(vid) or {}).get("needs_assistance")), live.visitor(vid)
    return context, page, errors


def console(live: Live, browser: Any, page_errors: Callable, email: str, password: str = PASSWORD):
    """A representative logged in to the console in a new browser context: (context, page, errors)."""
    context = browser.new_context()
    page = context.new_page()
    errors = page_errors(page)
    page.goto(live.url + "/console/")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("#workspace")
    return context, page, errors


def go_available(page: Any) -> None:
    from playwright.sync_api import expect

    page.click("[data-presence=available]")
    # (no wait_for_function here: its string predicates need eval, which the console's CSP forbids)
    expect(page.locator("#presence-state")).to_have_text("You are available", timeout=5000)


def accepted_chat(rep: Any, page: Any) -> tuple[str, Any]:
    """The shopper on ``page`` clicks HELP and the representative's console ``rep`` accepts:
    the chat's id and its pane in the console."""
    from playwright.sync_api import expect

    page.click(f"{OFFER} [data-beckon-action=accept]")
    expect(page.locator("[data-beckon=chat] .bk-status")).to_have_text("Waiting for a representative…")
    chat_id = page.evaluate("Beckon.request")
    rep.locator(f".request[data-id='{chat_id}'] .accept").click()
    pane = rep.locator(f".chat[data-id='{chat_id}']")
    pane.wait_for(timeout=5000)
    return chat_id, pane


class Customer:
    """A visitor's side without a browser: events to the collector, then HELP accepted, then
    the page's push socket."""

    def __init__(self, live: Live, vid: str, name: str = "", key: str = "") -> None:
        import httpx

        self.live, self.vid, self.key = live, vid, key or live.key  # key: another site on the demo's origin
        self.http = httpx.Client(base_url=live.url, timeout=10,
                                 headers={"Origin": live.demo_url, "Content-Type": "text/plain"})
        events: list[dict[str, Any]] = [
            {"t": "pv", "url": live.demo_url + "/quote", "title": "Get a quote", "visits": 1},
            {"t": "err", "field": "zip", "kind": "invalid", "msg": "Enter a valid ZIP"},
            {"t": "err", "field": "zip", "kind": "submit"},
            # at most what the server's clock allows right after the page view (scoring.DWELL_SLACK_MS)
            {"t": "field", "name": "zip", "ms": 4_000},
            {"t": "cart", "value": 250, "currency": "EUR"}]
        if name:
            events.append({"t": "id", "name": name})
        self.tok = self.send(events)["tok"]
        self.socket: Any = None

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        body = {"v": 1, "site": self.key, "vid": self.vid, "pid": "pageview-0001", "events": events,
                **({"tok": self.tok} if getattr(self, "tok", None) else {})}
        r = self.http.post("/v1/events", content=json.dumps(body))
        r.raise_for_status()
        return r.json()

    def ask_for_help(self) -> str:
        answer = poll(lambda: (a := self.send([{"t": "hb"}]))["cmd"] and a, every=0.1)  # rate limited
        assert answer, "no offer reached the customer"
        r = self.http.post(f"/v1/offers/{answer['cmd']['id']}/accept",
                           content=json.dumps({"site": self.key, "vid": self.vid, "tok": answer["tok"]}))
        r.raise_for_status()
        return r.json()["request"]

    def connect(self) -> None:
        from websockets.sync.client import connect as ws_connect

        url = self.live.url.replace("http://", "ws://") + f"/v1/push?site={self.key}&vid={self.vid}"
        self.socket = ws_connect(url, origin=self.live.demo_url, open_timeout=5).__enter__()
        self.socket.send(json.dumps({"type": "hello", "tok": self.tok}))

    def expect(self, check: Callable[[dict], Any], timeout: float = 10.0) -> dict[str, Any]:
        """Skips frames until one passes ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if check(message):
                return message

    def say(self, text: str) -> None:
        self.socket.send(json.dumps({"type": "say", "text": text, "cid": f"v{time.monotonic_ns()}"}))

    def close(self) -> None:
        if self.socket:
            self.socket.close()
        self.http.close()


class ConsoleSocket:
    """A representative's console without a browser: logged in over HTTP, then the console's
    WebSocket, as the workspace page opens it."""

    def __init__(self, live: Live, email: str, password: str = PASSWORD) -> None:
        import re

        import httpx
        from websockets.sync.client import connect as ws_connect

        self.http = httpx.Client(base_url=live.url, timeout=10, follow_redirects=True)
        form = self.http.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf, form[:500]
        r = self.http.post("/console/login", data={"csrf": csrf.group(1), "email": email,
                                                  "password": password, "next": "/console/"})
        assert r.status_code == 200 and 'id="workspace"' in r.text, r.text[:500]
        token = re.search(r'data-csrf="([^"]+)"', r.text)
        assert token, r.text[:500]
        cookie = "; ".join(f"{k}={v}" for k, v in self.http.cookies.items())
        # what the console page connects with (again, after a drop): the session stays valid
        self.url = live.url.replace("http://", "ws://") + f"/console/ws?csrf={token.group(1)}"
        self.origin, self.headers = live.url, {"Cookie": cookie}
        self.socket = ws_connect(self.url, origin=self.origin, additional_headers=self.headers,
                                 open_timeout=5).__enter__()

    def send(self, frame: dict[str, Any]) -> None:
        self.socket.send(json.dumps(frame))

    def expect(self, check: Callable[[dict], Any], timeout: float = 10.0) -> dict[str, Any]:
        """Skips frames until one passes ``check``."""
        deadline = time.monotonic() + timeout
        while True:
            message = json.loads(self.socket.recv(timeout=max(0.1, deadline - time.monotonic())))
            if check(message):
                return message

    def say(self, chat: str, text: str) -> str:
        """A message in one of the rep's chats, once it is stored (acknowledged); its id."""
        cid = f"r{time.monotonic_ns()}"
        self.send({"type": "say", "chat": chat, "text": text, "cid": cid})
        answer = self.expect(lambda m: m.get("type") in ("ack", "error") and cid in (m.get("cid"),
                                                                                      m.get("ref")))
        assert answer["type"] == "ack", answer
        return answer["id"]

    def close(self) -> None:
        self.socket.close()
        self.http.close()


# --- joining sites: an independent representative -------------------------------------------

def join_site(client: Any, key: str, name: str, email: str, password: str = PASSWORD) -> None:
    """Apply on the site's public join page (a fresh session), as a person would."""
    import re

    client.cookies.clear()
    page = client.get(f"/console/join/{key}").text
    r = client.post(f"/console/join/{key}", data={
        "csrf": re.search(r'name="csrf" value="([^"]+)"', page).group(1), "name": name, "email": email,
        "password": password, "languages": "en", "products": "", "areas": "", "timezone": "", "days_off": "",
        "alerts": "1", "alert_console": "on", "email_after_s": ""}, follow_redirects=False)
    assert r.status_code == 200 and 'id="join-done"' in r.text, r.text[:2000]


def approve_applicant(client: Any, admin_email: str, applicant: str) -> None:
    """The site's admin approves the pending application of ``applicant`` in the console."""
    import re

    csrf = console_login(client, admin_email)
    listed = client.get("/console/admin/applications").text
    row = re.search(r'<tr id="application-([^"]+)">\s*<td><a [^>]*>[^<]*</a></td>\s*<td>' + re.escape(applicant),
                    listed)
    assert row, listed
    r = client.post(f"/console/admin/applications/{row.group(1)}/decide",
                    data={"csrf": csrf, "decision": "approve", "note": ""}, follow_redirects=False)
    assert r.status_code == 303, r.text


# --- hostile input ------------------------------------------------------------------------------

LONE_SURROGATES = ["\ud800", "x\udfff", "\udc00y"]  # not encodable as UTF-8: a sender's JSON can carry them


def deep(levels: int) -> list:
    """A list nested ``levels`` deep: a validator that recursed into it would exhaust the stack."""
    out: list = []
    for _ in range(levels):
        out = [out]
    return out


def hostile_text(max_size: int = 200) -> Any:
    """Text as a sender may send it: any code points, lone surrogates, control characters."""
    from hypothesis import strategies as st

    return st.one_of(st.text(max_size=max_size), st.sampled_from(LONE_SURROGATES),
                     st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=8))


def hostile_json(max_list: int = 4, max_leaves: int = 12) -> Any:
    """Any JSON-like value, and worse: wrong types, huge and non-finite numbers, lone
    surrogates in values and keys, nesting; for validators that must list problems, never raise."""
    from hypothesis import strategies as st

    lone = st.sampled_from(LONE_SURROGATES)
    leaf = st.one_of(st.none(), st.booleans(), st.integers(), st.integers(min_value=10**300), st.floats(), st.text(),
                     lone, st.sampled_from([10**400, -10**400, 1e308, float("nan"), float("inf")]))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.lists(inner, max_size=max_list),
        st.dictionaries(st.one_of(st.text(max_size=8), lone), inner, max_size=3)), max_leaves=max_leaves)


# --- orders (Standard Webhooks signatures, as a shop's server signs them) ------------------------

ORDER = {"order_id": "SO-1001", "value": 129.9, "currency": "EUR", "customer_id": "cust-77",
         "items": [{"sku": "TENT-2", "name": "Tent", "qty": 1, "price": "119.90", "category": "camping"},
                   {"sku": "PEG", "name": "Pegs", "qty": 2, "price": 5, "category": "camping"}]}


def secret_of(client: Any, key: str) -> str:
    r = client.get(f"/v1/sites/{key}/order-secret", headers=admin())
    assert r.status_code == 200, r.text
    return r.json()["secret"]


def signed(secret: str, body: bytes, msg_id: str = "msg_0001", at: float | None = None) -> dict[str, str]:
    ts = int(time.time() if at is None else at)
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts),
            "webhook-signature": order_signature(secret, msg_id, ts, body), "Content-Type": "application/json"}


def post_order(client: Any, key: str, secret: str, order: Any = ORDER, msg_id: str = "msg_0001",
               at: float | None = None, body: bytes | None = None):
    body = body if body is not None else json.dumps(order).encode()
    return client.post(f"/v1/sites/{key}/orders", content=body, headers=signed(secret, body, msg_id, at))


# --- enterprises ----------------------------------------------------------------------------

def new_site(client: Any, name: str) -> str:
    """A site named ``name`` on an origin of its own; its key."""
    host = "".join(c for c in name.lower() if c.isalnum())
    r = client.post("/v1/sites", json={"name": name, "origins": [f"https://{host}.example"]},
                    headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["key"]


def enterprise(client: Any, name: str, *sites: str) -> str:
    """An enterprise of these sites, made by the operator; its id."""
    r = client.post("/v1/enterprises", json={"name": name, "sites": list(sites)}, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]
