"""Every Redis key Beckon uses, in one place.

Layout: ``bk:{<site>}:<what>[:<id>]``. The braces are a Redis Cluster hash tag, so all of one
site's keys live in one slot and a Lua script may touch any of them. Nothing outside this
module builds a key string.
"""

from __future__ import annotations

PREFIX = "bk"

# Global (not per site): the set of every allowed origin, for answering CORS preflights that
# carry no site key.
ORIGINS = f"{PREFIX}:origins"
SITES = f"{PREFIX}:sites"


def _k(site: str, what: str, ident: str | None = None) -> str:
    base = f"{PREFIX}:{{{site}}}:{what}"
    return base if ident is None else f"{base}:{ident}"


def site(site_key: str) -> str:
    """Hash: name, origins (JSON list), created, consent_required."""
    return _k(site_key, "site")


def rules(site_key: str) -> str:
    """String: the site's rule set as JSON (absent: defaults)."""
    return _k(site_key, "rules")


def flagged(site_key: str) -> str:
    """Set: customer ids and lower-cased e-mails the site flagged for assistance."""
    return _k(site_key, "flagged")


def active(site_key: str) -> str:
    """Sorted set: visitor id -> last seen (ms). Pruned to the visitor TTL on every batch."""
    return _k(site_key, "active")


def needy(site_key: str) -> str:
    """Sorted set: visitor id -> score, for visitors whose score reached the threshold."""
    return _k(site_key, "needy")


def visitor(site_key: str, vid: str) -> str:
    """Hash: the folded visitor state and the last decision. TTL: visitor inactivity."""
    return _k(site_key, "v", vid)


def trail(site_key: str, vid: str) -> str:
    """List of JSON page views (newest last, capped). TTL: visitor inactivity."""
    return _k(site_key, "trail", vid)


def field_dwell(site_key: str, vid: str) -> str:
    """Hash: field name -> ms focused. TTL: visitor inactivity."""
    return _k(site_key, "fd", vid)


def errors(site_key: str, vid: str) -> str:
    """List of JSON form errors (capped). TTL: visitor inactivity."""
    return _k(site_key, "err", vid)


def page_dwell(site_key: str, vid: str) -> str:
    """Hash: page number in the trail -> visible ms. TTL: visitor inactivity."""
    return _k(site_key, "pd", vid)


def profile(site_key: str, vid: str) -> str:
    """Hash: id, email, name given by Beckon.identify(). TTL: visitor inactivity."""
    return _k(site_key, "prof", vid)


def rate_visitor(site_key: str, vid: str, minute: int) -> str:
    return _k(site_key, "rl:v", f"{vid}:{minute}")


def rate_ip(site_key: str, ip: str, minute: int) -> str:
    return _k(site_key, "rl:ip", f"{ip}:{minute}")


def visitor_keys(site_key: str, vid: str) -> list[str]:
    """Every per-visitor key, for reads and deletion."""
    return [
        visitor(site_key, vid),
        trail(site_key, vid),
        field_dwell(site_key, vid),
        errors(site_key, vid),
        page_dwell(site_key, vid),
        profile(site_key, vid),
    ]


def ingest(site_key: str, vid: str, ip: str, minute: int) -> list[str]:
    """KEYS for ``lua/ingest.lua``, in the order the script expects."""
    return [
        visitor(site_key, vid),
        trail(site_key, vid),
        field_dwell(site_key, vid),
        errors(site_key, vid),
        page_dwell(site_key, vid),
        active(site_key),
        rules(site_key),
        flagged(site_key),
        rate_visitor(site_key, vid, minute),
        rate_ip(site_key, ip, minute),
        needy(site_key),
        profile(site_key, vid),
        offer(site_key, vid),
    ]


# --- Representatives -------------------------------------------------------------------

REP_LOGINS = f"{PREFIX}:rep-logins"  # global hash: lower-cased e-mail -> "site rid", for the console login


def login_failures(subject: str) -> str:
    """Counter with a TTL: failed console logins for one subject ("e:<digest of e-mail>" or
    "ip:<digest of address>", so an arbitrary string never becomes part of a key). Global: the
    site is unknown before login."""
    return f"{PREFIX}:login-fail:{subject}"


def reps(site_key: str) -> str:
    """Set of representative ids."""
    return _k(site_key, "reps")


def rep(site_key: str, rid: str) -> str:
    """Hash: name, email, password (scrypt), capacity, skills (JSON), area, active."""
    return _k(site_key, "rep", rid)


def presence(site_key: str) -> str:
    """Sorted set: rep id -> last console heartbeat (ms). Older than the presence timeout
    means offline, whatever the status says."""
    return _k(site_key, "presence")


def rep_status(site_key: str) -> str:
    """Hash: rep id -> 'available' | 'away'."""
    return _k(site_key, "rep-status")


def capacity(site_key: str) -> str:
    """Hash: rep id -> chats the rep can hold at once (active reps only)."""
    return _k(site_key, "capacity")


def load(site_key: str) -> str:
    """Hash: rep id -> chats the rep holds now."""
    return _k(site_key, "load")


# --- Offers ----------------------------------------------------------------------------

DEADLINES = f"{PREFIX}:offer-deadlines"  # global zset: "site vid" -> withdraw-at (ms), for the sweeper
NEEDY_SITES = f"{PREFIX}:needy-sites"  # global set: sites that may have visitors needing help, for the ticker


def offer_settings(site_key: str) -> str:
    """String: the site's offer settings as JSON (absent: defaults)."""
    return _k(site_key, "offer-settings")


def offers(site_key: str) -> str:
    """Sorted set: visitor id -> deadline (ms) of the outstanding offer that holds a slot."""
    return _k(site_key, "offers")


def offer(site_key: str, vid: str) -> str:
    """Hash: the visitor's current offer (id, variant, kind, short, created, deadline)."""
    return _k(site_key, "offer", vid)


def cooldown(site_key: str, vid: str) -> str:
    """String with a TTL: the visitor is not offered again until it expires."""
    return _k(site_key, "cool", vid)


def requests(site_key: str) -> str:
    """Sorted set: chat request id -> created (ms), for requests not yet accepted."""
    return _k(site_key, "requests")


def request(site_key: str, req_id: str) -> str:
    """Hash: a chat request (visitor, offer, created, status, reasons)."""
    return _k(site_key, "req", req_id)


def response_times(site_key: str) -> str:
    """List of ms between an offer reaching the page and the customer responding (capped)."""
    return _k(site_key, "resp-times")


def accepted_waits(site_key: str) -> str:
    """List of ms customers waited for a representative and stayed (capped)."""
    return _k(site_key, "waits")


def handle_times(site_key: str) -> str:
    """List of chat durations in ms (capped), for the average handle time."""
    return _k(site_key, "handle-times")


def push_channel(site_key: str, vid: str) -> str:
    """Pub/sub channel of one visitor's pages."""
    return _k(site_key, "push", vid)


def site_prefix(site_key: str) -> str:
    """The prefix Lua scripts append ids to for per-visitor keys they discover while
    running (same hash slot as every key of the site)."""
    return _k(site_key, "")


# --- Chats ------------------------------------------------------------------------------
# A chat is the request the customer made by clicking HELP (keys.request): the same hash
# moves from 'waiting' to 'active' (a representative accepted) to 'ended'.

def messages(site_key: str, chat_id: str) -> str:
    """Stream of the chat's messages; stream ids are the message ids pages resume from."""
    return _k(site_key, "msgs", chat_id)


def client_ids(site_key: str, chat_id: str) -> str:
    """Hash: client-side message id -> stored id, so a resend is not a duplicate."""
    return _k(site_key, "cids", chat_id)


def visitor_chats(site_key: str, vid: str) -> str:
    """List of a visitor's chat ids, newest first (kept for the transcript search)."""
    return _k(site_key, "vchats", vid)


def rep_chats(site_key: str, rid: str) -> str:
    """Set of the chats a representative holds now."""
    return _k(site_key, "rchats", rid)


def console_channel(site_key: str) -> str:
    """Pub/sub channel to every console of the site (queue changes)."""
    return _k(site_key, "console")


def rep_channel(site_key: str, rid: str) -> str:
    """Pub/sub channel to one representative's consoles (their chats)."""
    return _k(site_key, "console", rid)
