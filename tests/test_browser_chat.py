"""Real Chromium, real Redis, the live servers: the customer's chat pop-up (snippet/c.js).

A flagged customer accepts HELP and waits; a representative, driven through the chat service
the way the console drives it, accepts and they chat both ways; a pushed link opens the shop
page in one click; reloads and navigation bring the whole conversation back exactly once;
unacknowledged messages are resent without duplicates; the chat ends, and the transcript
arrives by mail. What a representative types is only ever text."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from backend.config import Settings
from backend.domain.chat import check_link
from backend.store import keys
from tests.helpers import OFFER, Live, chat_service, flagged_page, poll, presence, run_worker, setup_site, wait_js

pytestmark = pytest.mark.browser

CHAT = "[data-beckon=chat]"
STATUS = f"{CHAT} .bk-status"

MESSAGES_JS = """() => {
  const host = document.querySelector('[data-beckon=chat]');
  if (!host) return [];
  return [...host.shadowRoot.querySelectorAll('.bk-msg')].map(li => ({
    id: li.getAttribute('data-id'), from: li.className.replace('bk-msg bk-', ''),
    kind: li.getAttribute('data-kind'), state: li.getAttribute('data-state'),
    text: (li.querySelector('.bk-text') || {}).textContent || ''}));
}"""


class Console:
    """The representative's side, as the console drives it: the chat service on the test's
    Redis, from outside the web server (its pushes cross over Redis pub/sub). Its event loop
    runs in a thread of its own: Playwright's sync API holds one in the test's thread."""

    def __init__(self, live: Live, redis_url: str, rid: str) -> None:
        self.redis_url = redis_url
        self.site = live.site["key"]
        self.rid = rid
        self.origins = frozenset({live.demo_url})

    def run(self, fn):
        return chat_service(self.redis_url, lambda chats, redis: fn(chats))

    def accept(self, cid: str):
        return self.run(lambda c: c.accept(self.site, cid, self.rid))

    def say(self, cid: str, text: str, **extra):
        return self.run(lambda c: c.say(self.site, cid, "rep", "Ria", text, **extra))

    def link(self, cid: str, url: str, title: str):
        url = check_link(url, self.origins)  # as the console sends a link: its title (or URL) as text
        return self.say(cid, title or url, kind="link", url=url, title=title)

    def typing(self, cid: str) -> None:
        self.run(lambda c: c.typing(self.site, cid, "rep"))

    def end(self, cid: str) -> None:
        self.run(lambda c: c.end(self.site, cid, "rep", 0))

    def get(self, cid: str):
        return self.run(lambda c: c.get(self.site, cid))

    def history(self, cid: str) -> list[dict]:
        return self.run(lambda c: c.history(self.site, cid))


def messages(page) -> list[dict]:
    return page.evaluate(MESSAGES_JS)


def shown_once(page, console: Console, cid: str) -> bool:
    """The page shows every stored message, each exactly once, in order."""
    ids = [m["id"] for m in messages(page)]
    return ids == [m["id"] for m in console.history(cid)]


LAYOUT_JS = "[document.documentElement.scrollHeight, JSON.stringify(document.querySelector('main').getBoundingClientRect())]"
GLOBALS_JS = "Object.getOwnPropertyNames(window).sort()"


def start_chat(live: Live, browser, page_errors, redis_server):
    rid = setup_site(live, variant="panel")
    presence(live.api, live.key, rid, "available")
    context, page, errors = flagged_page(live, browser, page_errors)
    console = Console(live, redis_server.url, rid)
    before = page.evaluate(LAYOUT_JS)
    names = page.evaluate(GLOBALS_JS)
    page.click(f"{OFFER} [data-beckon-action=accept]")
    expect(page.locator(STATUS)).to_have_text("Waiting for a representative…")
    cid = page.evaluate("Beckon.request")
    assert console.get(cid).status == "waiting"
    # the offer hands over to the chat, and the customer can type straight away
    page.wait_for_selector(OFFER, state="detached", timeout=5000)
    assert page.evaluate("document.activeElement.getAttribute('data-beckon') === 'chat' && "
                         "document.activeElement.shadowRoot.activeElement.id") == "bk-m"
    # fixed, in its own layer: nothing on the page moved
    assert page.evaluate("getComputedStyle(document.querySelector('[data-beckon=chat]').shadowRoot"
                         ".querySelector('.bk-root')).position") == "fixed"
    assert page.evaluate(LAYOUT_JS) == before
    assert page.evaluate(GLOBALS_JS) == names  # everything hangs off window.Beckon
    return context, page, errors, console, cid


@pytest.mark.cluster_too
def test_a_whole_chat_survives_reloads_and_navigation_and_ends_with_a_transcript(
        live: Live, browser, page_errors, redis_server, redis_client, smtp) -> None:
    context, page, errors, console, cid = start_chat(live, browser, page_errors, redis_server)
    key = live.site["key"]

    # the representative accepts; the customer sees who they talk to
    console.accept(cid)
    expect(page.locator(STATUS)).to_have_text("Chatting with Ria")
    expect(page.locator(f"{CHAT} .bk-system")).to_have_text("Ria joined the chat.")

    # rep -> customer, with the typing indicator before it
    console.typing(cid)
    expect(page.locator(f"{CHAT} .bk-typing")).to_have_text("Ria is typing…")
    console.say(cid, "Hello! How can I help?")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text")).to_have_text("Hello! How can I help?")
    expect(page.locator(f"{CHAT} .bk-typing")).to_have_text("")

    # customer -> rep: typing is announced at most every 2 s; the message is stored once and
    # shows as sent when its ack arrives
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)
    pubsub.ssubscribe(keys.hub_channel(key))  # what the hub sends the site's workers (domain/push.py)
    to_rep = keys.rep_channel(key, console.rid)  # "<channel> <channel>\n<frame>"
    read = pubsub.get_sharded_message if hasattr(pubsub, "get_sharded_message") else pubsub.get_message
    page.locator(f"{CHAT} #bk-m").press_sequentially("I need a paddle", delay=40)
    page.keyboard.press("Enter")
    expect(page.locator(f"{CHAT} .bk-visitor").last).to_have_attribute("data-state", "sent")
    frames: list[dict] = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not any(f["type"] == "msg" for f in frames):
        m = read(timeout=0.1)  # the typing frames came before the message
        to, _, frame = m["data"].partition("\n") if m else ("", "", "")
        if to_rep in to.split(" "):
            frames.append(json.loads(frame))
    pubsub.close()
    assert [f["type"] for f in frames].count("typing") == 1
    assert [f["msg"]["text"] for f in frames if f["type"] == "msg"] == ["I need a paddle"]
    stored = [m for m in console.history(cid) if m["from"] == "visitor"]
    assert [m["text"] for m in stored] == ["I need a paddle"]
    assert page.locator(f"{CHAT} .bk-visitor").last.get_attribute("data-id") == stored[0]["id"]

    # sent, then the connection drops before the ack: resent after the reconnect, stored once
    page.evaluate("""() => {
      const r = document.querySelector('[data-beckon=chat]').shadowRoot;
      r.getElementById('bk-m').value = 'Is it carbon?';
      r.querySelector('form').requestSubmit();
      Beckon._socket().close();
    }""")
    expect(page.locator(f"{CHAT} .bk-visitor").last).to_have_attribute("data-state", "sent", timeout=8000)
    assert [m["text"] for m in console.history(cid) if m["from"] == "visitor"] == ["I need a paddle", "Is it carbon?"]
    assert poll(lambda: shown_once(page, console, cid))

    # not sent at all (no connection) when the customer reloads: this tab keeps it and the
    # next page sends it; then the whole conversation, exactly once
    page.evaluate("""() => {
      Beckon._socket().close();
      const r = document.querySelector('[data-beckon=chat]').shadowRoot;
      r.getElementById('bk-m').value = 'Do you ship to Berlin?';
      r.querySelector('form').requestSubmit();
    }""")
    assert page.evaluate("JSON.parse(sessionStorage.getItem('beckon.chat')).pending.length") == 1
    page.reload()
    expect(page.locator(STATUS)).to_have_text("Chatting with Ria")
    expect(page.locator(f"{CHAT} .bk-visitor").last).to_have_attribute("data-state", "sent")
    assert poll(lambda: shown_once(page, console, cid)), (messages(page), console.history(cid))
    assert [m["text"] for m in console.history(cid) if m["from"] == "visitor"] == [
        "I need a paddle", "Is it carbon?", "Do you ship to Berlin?"]
    assert page.evaluate("JSON.parse(sessionStorage.getItem('beckon.chat')).id") == cid

    # a pushed page of the shop opens with one click, in the same tab; the chat comes along
    console.link(cid, live.demo_url + "/product/paddle", "Carbon paddle")
    card = page.locator(f"{CHAT} a.bk-link")
    expect(card).to_have_text("Carbon paddle" + live.demo_url + "/product/paddle")
    assert card.get_attribute("href") == live.demo_url + "/product/paddle"
    assert page.locator(f"{CHAT} [data-kind=link]").inner_text().count("Carbon paddle") == 1
    card.click()
    page.wait_for_url(live.demo_url + "/product/paddle")
    assert len(context.pages) == 1
    expect(page.locator("main h1")).to_have_text("Carbon paddle")
    expect(page.locator(STATUS)).to_have_text("Chatting with Ria")
    assert poll(lambda: shown_once(page, console, cid)), (messages(page), console.history(cid))
    assert [m["kind"] for m in messages(page)].count("link") == 1

    # and on to another page by the shop's own navigation
    page.click("header nav a[href='/quote']")
    page.wait_for_url(live.demo_url + "/quote")
    expect(page.locator(STATUS)).to_have_text("Chatting with Ria")
    console.say(cid, "Still here?")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text("Still here?")
    assert poll(lambda: shown_once(page, console, cid))

    # the customer ends the chat
    page.locator(f"{CHAT} .bk-end").click()
    expect(page.locator(STATUS)).to_have_text("Chat ended")
    expect(page.locator(f"{CHAT} .bk-system").last).to_have_text("The customer ended the chat.")
    assert console.get(cid).status == "ended"
    expect(page.locator(f"{CHAT} #bk-m")).to_be_hidden()

    # an ended chat is still there after a reload, whole, with the transcript form
    page.reload()
    expect(page.locator(STATUS)).to_have_text("Chat ended")
    assert poll(lambda: shown_once(page, console, cid)), (messages(page), console.history(cid))
    page.locator(f"{CHAT} #bk-e").fill("ann@example.com")
    page.locator(f"{CHAT} #bk-e").press("Enter")
    expect(page.locator(f"{CHAT} .bk-note")).to_contain_text("ann@example.com")

    run_worker(Settings(redis_url=redis_server.url, queue_redis_url=redis_server.queue_url), smtp)  # the real job worker process
    mail = smtp.wait_for_message()
    assert mail["To"] == "ann@example.com"
    text = mail.get_body(("plain",)).get_content()
    for line in ("Hello! How can I help?", "Is it carbon?", "Do you ship to Berlin?", "/product/paddle", "Still here?"):
        assert line in text

    # closing forgets it: the next page shows no chat
    page.locator(f"{CHAT} button[aria-label='Close chat']").click()
    expect(page.locator(CHAT)).to_have_count(0)
    page.reload()
    wait_js(page, "!!(window.Beckon && Beckon._socket && Beckon._socket() && Beckon._socket().readyState === 1)")
    page.wait_for_timeout(300)  # no event says "nothing will show": a grace period for the socket's first frames
    assert page.locator(CHAT).count() == 0
    assert errors == []
    context.close()


def test_what_a_representative_types_is_text_and_the_pop_up_works_by_keyboard(
        live: Live, browser, page_errors, redis_server) -> None:
    context, page, errors, console, cid = start_chat(live, browser, page_errors, redis_server)
    console.accept(cid)
    expect(page.locator(STATUS)).to_have_text("Chatting with Ria")

    payload = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 1"><b>bold</b>'
    console.say(cid, payload)
    expect(page.locator(f"{CHAT} .bk-rep .bk-text")).to_have_text(payload)
    # a link that is not http(s) is never made clickable
    console.say(cid, "click me", kind="link", url="javascript:window.__pwned=1", title="<img src=x onerror=alert(1)>")
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text("click me")
    page.wait_for_timeout(200)  # no event says "nothing ran": a grace period for an image's error handler
    inside = page.evaluate("""() => {
      const r = document.querySelector('[data-beckon=chat]').shadowRoot;
      return {img: r.querySelectorAll('img, script, b').length, a: r.querySelectorAll('a').length};
    }""")
    assert inside == {"img": 0, "a": 0}
    assert page.evaluate("window.__pwned") is None

    # frames it cannot use are dropped without a sound; so is storage that refuses to work
    page.evaluate("""() => {
      for (const f of [null, 7, {type: 'msg', chat: 5, msg: {}}, {type: 'history', chat: 'x', msgs: 'x'},
                       {type: 'chat'}, {type: 'ack', cid: {}}, {type: 'typing', from: 'rep'}]) Beckon._chat(f);
      Object.defineProperty(window, 'sessionStorage', {get() { throw new Error('storage is off'); }});
    }""")

    # keyboard only: Escape folds the pop-up, Enter on its button opens it again
    page.locator(f"{CHAT} #bk-m").focus()
    page.keyboard.press("Escape")
    expect(page.locator(f"{CHAT} .bk-body")).to_be_hidden()
    expect(page.locator(f"{CHAT} button[aria-label='Open chat']")).to_be_focused()
    console.say(cid, "Are you there?")
    expect(page.locator(f"{CHAT} .bk-root")).to_have_class("bk-root bk-min bk-new")
    page.keyboard.press("Enter")
    expect(page.locator(f"{CHAT} .bk-body")).to_be_visible()
    expect(page.locator(f"{CHAT} .bk-rep .bk-text").last).to_have_text("Are you there?")

    # "call me back" instead of typing: a bad number is refused, a good one reaches the rep
    page.locator(f"{CHAT} button", has_text="Call me back").first.click()
    expect(page.locator(f"{CHAT} #bk-p")).to_be_focused()
    page.keyboard.type("call me")
    page.keyboard.press("Tab")
    page.keyboard.type("after 5 pm")
    page.keyboard.press("Enter")
    expect(page.locator(f"{CHAT} .bk-call .bk-err")).to_contain_text("phone number")
    page.locator(f"{CHAT} #bk-p").fill("+49 30 1234567")
    page.locator(f"{CHAT} #bk-w").press("Enter")
    expect(page.locator(f"{CHAT} [data-kind=callback] .bk-text")).to_have_text(
        "Please call me back at +49 30 1234567, after 5 pm.")
    callback = console.get(cid).callback
    assert callback and (callback.phone, callback.when) == ("+49 30 1234567", "after 5 pm")
    expect(page.locator(f"{CHAT} #bk-m")).to_be_visible()  # back to the text chat

    # the representative ends it: the page says so
    console.end(cid)
    expect(page.locator(STATUS)).to_have_text("Chat ended")
    expect(page.locator(f"{CHAT} #bk-e")).to_be_visible()
    assert errors == []
    context.close()
