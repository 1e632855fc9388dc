"""Every Redis key Beckon uses, in one place.

Layout: ``bk:{<site>}:<what>[:<id>]``. The braces are a Redis Cluster hash tag, so all of one
site's keys live in one slot and a Lua script may touch any of them. Nothing outside this
module builds a key string.
"""

from __future__ import annotations

import hashlib

PREFIX = "bk"

# How many recent samples the timing lists keep (response times, accepted waits, handle
# times): the scripts trim to it and the broker's learning reads that many.
SAMPLES_KEPT = 100


class Fields:
    """Base of the hash-field registries below: ``names()`` lists a hash's fields, which the
    tests hold every Lua script and every Python reader to."""

    @classmethod
    def names(cls) -> set[str]:
        return {v for k, v in vars(cls).items() if k.isupper() and isinstance(v, str)}


class SiteHash(Fields):
    NAME = "name"
    ORIGINS = "origins"  # JSON list
    CREATED = "created"
    CONSENT_REQUIRED = "consent_required"
    IDENTITY_SECRET = "identity_secret"  # signs Beckon.identify() on the site's own server
    SIGNED_IDENTITY = "signed_identity"  # "1": only signed identities count as who they claim
    ENTERPRISE = "enterprise"  # the enterprise's id, when one owns the site (set once, with HSETNX)
    ORDER_SECRET = "order_secret"  # signs the orders the site's server posts (whsec_...; domain/orders.py)


class EnterpriseHash(Fields):
    NAME = "name"
    CREATED = "created"  # s
    SHARED_RECORDS = "shared_records"  # "1": its sites keep one set of records (records_scope)


class VisitorHash(Fields):
    """The folded visitor state (written by ingest.lua) and its links to offers and chats."""

    PAGE_N = "page_n"  # page views so far; the trail's numbering
    PAGE_MS = "page_ms"  # visible ms on the current page (client-reported, bounded by PAGE_AT)
    PAGE_AT = "page_at"  # server ms when the current page view arrived
    HEARTBEATS = "hbs"  # heartbeats on the current page (server-counted)
    FIELD_MAX = "field_max"
    ERRORS = "errors"
    VISITS = "visits"
    CART = "cart"
    CURRENCY = "currency"
    SERVICE_POINT = "svc"
    FLAGGED = "flagged"
    CODE_OK = "code_ok"
    URL = "url"
    TITLE = "title"
    LANGUAGE = "lang"  # BCP 47, as the latest page that declared one said
    SCORE = "score"
    NEEDS = "needs"
    REASONS = "reasons"  # JSON list
    FIRST = "first"  # ms of the first batch of the visit
    LAST = "last"  # ms of the latest batch
    LEFT = "left"  # ms of the page's goodbye (pagehide), until the next batch
    NEEDY_AT = "needy_at"  # ms the visitor started needing help
    REQUEST = "req"  # the chat request (or chat) the visitor has open
    TOKEN = "tok"  # the visitor's secret, handed to its first page; proves a call is the visitor's
    # Set once per visit when the visitor first needs help (core/counters.py:arm, band):
    ARM = "arm"  # treatment | holdout (never offered help)
    BAND = "band"  # the need band at first need: b1 | b2 | b3


class ProfileHash(Fields):
    ID = "id"
    EMAIL = "email"
    NAME = "name"
    AREA = "area"  # postcode, area code or region, upper-case, as identify() gave it
    VERIFIED = "verified"  # "1": the id / e-mail came signed with the site's identity secret


class OfferHash(Fields):
    ID = "id"
    KIND = "kind"  # help | message
    VARIANT = "variant"
    SHORT = "short"
    CREATED = "created"
    DEADLINE = "deadline"
    WAIT = "wait"  # the estimated wait when offered, s (-1: none)


class RequestHash(Fields):
    """A chat request, then the chat itself: waiting -> active -> ended."""

    VISITOR = "vid"
    OFFER = "offer"
    CREATED = "created"
    STATUS = "status"
    SCORE = "score"
    REASONS = "reasons"
    URL = "url"
    TARGETS = "targets"  # "*" (every rep) or a JSON list of rep ids
    MUST_CONTACT = "must_contact"
    REP = "rep"
    ACCEPTED = "accepted"
    ENDED = "ended"
    ENDED_BY = "ended_by"
    CALLBACK = "callback"  # JSON {phone, when}
    TRANSCRIPT_TO = "transcript_to"  # where its one transcript mail went
    ALERTED = "alerted"  # ms the admins were told nobody accepted it (must contact); set once
    OUTCOME = "outcome"  # "no_sale": the rep said the chat sold nothing (a sale is an order); set once
    # Dispatch (lua/dispatch.lua): the stage reached, the rule set's name, what ranking reads
    # (JSON: core/dispatch.py:spec), and for each target their score and top contributions.
    STAGE = "stage"
    RULE_SET = "rule_set"
    MATCH = "match"
    WHY = "why"
    # Results (core/results.py; lua/outcome.lua): the customer's rating after the end, and the
    # rep's resolved mark, each set once; COUNTED, set once, when the chat counted as a
    # success in its rep's results for RULE_SET.
    RATING = "rating"  # 1-5
    COMMENT = "comment"  # the rating's optional comment, at most 500 characters
    RATED = "rated"  # ms
    RESOLVED = "resolved"  # ms
    COUNTED = "counted"  # "1"
    # The visitor's arm and need band, copied on accept (lua/respond.lua) for the day's counts
    ARM = "arm"
    BAND = "band"


class RepHash(Fields):
    NAME = "name"
    EMAIL = "email"
    PASSWORD = "password"
    CAPACITY = "capacity"
    SKILLS = "skills"  # JSON object skill -> proficiency 1-5 (before profiles: a JSON list of names)
    AREA = "area"  # before profiles: one area as text, read while AREAS is absent
    LANGUAGES = "languages"  # JSON list of BCP 47 tags
    PRODUCTS = "products"  # JSON list of product lines
    AREAS = "areas"  # JSON list of postcode prefixes, area codes, regions
    SCHEDULE = "schedule"  # JSON {timezone, hours, days_off} or null
    ALERTS = "alerts"  # JSON {channels, email_after_s}
    ROLE = "role"
    ACTIVE = "active"
    LAST_CHAT = "last_chat"  # ms the rep last accepted a chat (lua/claim.lua); fairness reads it


class ApplicationHash(Fields):
    """A representative's application (domain/applications.py), until and after the decision."""

    NAME = "name"
    EMAIL = "email"
    PASSWORD = "password"  # argon2 hash, copied to the rep on approval
    PROFILE = "profile"  # JSON: the profile as the API writes it (core/rep_profile.py)
    STATUS = "status"  # pending | approved | rejected
    CREATED = "created"  # ms
    DECIDED = "decided"  # ms; set once, with HSETNX: the one decision an application gets
    NOTE = "note"  # the decision's note, mailed to the applicant
    DECIDED_BY = "decided_by"  # the admin's rep id
    CHECK_STATUS = "check_status"  # not_started | pending | passed | failed
    CHECK_DATE = "check_date"  # YYYY-MM-DD or ""
    CHECK_NOTE = "check_note"


class TouchHash(Fields):
    """A visitor's latest help episode (domain/touches.py), read by attribution."""

    KIND = "kind"  # offered | accepted | chatted: how far it went
    AT = "at"  # ms HELP was offered (the episode's start)
    REP = "rep"  # the chat's representative
    CHAT = "chat"


class SessionHash(Fields):
    REP = "rid"
    CREATED = "created"  # s
    SEEN = "seen"  # s, of the last request that pushed the idle timeout back


class MessageFields(Fields):
    """Fields of a chat message in the messages stream."""

    FROM = "from"
    NAME = "name"
    TEXT = "text"
    KIND = "kind"
    TS = "ts"
    URL = "url"
    TITLE = "title"
    PHONE = "phone"
    WHEN = "when"

# Global (not per site): the set of every allowed origin, for answering CORS preflights that
# carry no site key.
ORIGINS = f"{PREFIX}:origins"
SITES = f"{PREFIX}:sites"


def _k(site: str, what: str, ident: str | None = None) -> str:
    base = f"{PREFIX}:{{{site}}}:{what}"
    return base if ident is None else f"{base}:{ident}"


def site(site_key: str) -> str:
    """Hash: SiteHash."""
    return _k(site_key, "site")


def rules(site_key: str) -> str:
    """String: the site's rule set as JSON (absent: defaults)."""
    return _k(site_key, "rules")


def matching(site_key: str) -> str:
    """String: the site's page map and matching rule sets as JSON (absent: the default)."""
    return _k(site_key, "matching")


def api_keys(site_key: str) -> str:
    """Hash: key id -> JSON {label, hash (SHA-256 of the secret), created, last_used}."""
    return _k(site_key, "api-keys")


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
    """Hash: VisitorHash, the folded visitor state and the last decision. TTL: visitor
    inactivity."""
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
    """Hash: ProfileHash, given by Beckon.identify(). TTL: visitor inactivity."""
    return _k(site_key, "prof", vid)


def rate_visitor(site_key: str, vid: str, minute: int) -> str:
    return _k(site_key, "rl:v", f"{vid}:{minute}")


def rate_ip(site_key: str, ip: str, minute: int) -> str:
    return _k(site_key, "rl:ip", f"{ip}:{minute}")


def contact_rate(site_key: str, vid: str) -> str:
    """String: contact requests this visitor sent (the widget's form, a marked form) in the
    current window (domain/contact_form.py). TTL: the window, from the first."""
    return _k(site_key, "rl:contact", vid)


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


# --- Enterprises ----------------------------------------------------------------------------
# An enterprise owns several sites; its own keys live under its own hash tag, {ent:<id>}, and
# each of its sites names it in the site's hash (SiteHash.ENTERPRISE): which enterprise a site
# belongs to is decided in the site's slot, once.


def enterprise(eid: str) -> str:
    """Hash: EnterpriseHash."""
    return f"{PREFIX}:{{ent:{eid}}}:enterprise"


def enterprise_sites(eid: str) -> str:
    """Set of the site keys the enterprise owns."""
    return f"{PREFIX}:{{ent:{eid}}}:sites"


# --- Representatives -------------------------------------------------------------------

REP_LOGINS = f"{PREFIX}:rep-logins"  # before per-site e-mails: global hash e-mail -> "site rid" (read, never written)


def rep_logins(email_digest: str) -> str:
    """Set of "site rid": every account that logs in with this e-mail (one per site at most).
    Global, as the site is unknown before login; named by a digest, not the address."""
    return f"{PREFIX}:rep-login:{email_digest}"


def rep_emails(site_key: str) -> str:
    """Hash: lower-cased e-mail -> rep id, so an address is unique within its site."""
    return _k(site_key, "rep-emails")


def session(site_key: str, sid: str) -> str:
    """Hash: SessionHash, a console session. TTL: the idle timeout."""
    return _k(site_key, "session", sid)


def rep_sessions(site_key: str, rid: str) -> str:
    """Set of the session ids of one representative, to end them all at once."""
    return _k(site_key, "rep-sessions", rid)


def login_failures(subject: str) -> str:
    """Counter with a TTL: failed console logins for one subject ("e:<digest of e-mail>" or
    "ip:<digest of address>", so an arbitrary string never becomes part of a key). Global: the
    site is unknown before login."""
    return f"{PREFIX}:login-fail:{subject}"


def join_attempts(subject: str) -> str:
    """Counter with a TTL: join-form posts of one subject ("ip:<digest of address>" or
    "site:<site key>:<hour>"), global like the login throttle's."""
    return f"{PREFIX}:join-attempts:{subject}"


def applications(site_key: str) -> str:
    """Sorted set: application id -> created (ms)."""
    return _k(site_key, "applications")


def application(site_key: str, aid: str) -> str:
    """Hash: ApplicationHash."""
    return _k(site_key, "application", aid)


def applicant_emails(site_key: str) -> str:
    """Hash: e-mail (lower case) -> application id; one application per address and site."""
    return _k(site_key, "applicant-emails")


def accreditation_tests(site_key: str) -> str:
    """Hash: accreditation test id -> JSON of the test, answers included (core/accreditation.py)."""
    return _k(site_key, "accr-tests")


def accreditations_version(site_key: str) -> str:
    """Bumped by every grant, pass and revoke (domain/accreditations.py): what a worker keeps
    of the site's accreditations is good while it stands."""
    return _k(site_key, "accr-v")


def accreditations(site_key: str, rid: str) -> str:
    """Hash: subject -> "level expires_ms granted_ms test" (core/accreditation.py:stored), a
    rep's accreditations; lua/dispatch.lua reads the level and the expiry."""
    return _k(site_key, "accr", rid)


def accreditation_attempts(site_key: str, rid: str) -> str:
    """Hash: test id -> JSON {at, score, passed, retry_at} of the rep's latest attempt at it."""
    return _k(site_key, "accr-attempts", rid)


def accreditation_grading(site_key: str, rid: str, tid: str) -> str:
    """String: set (NX, a few seconds) while one attempt of a rep at a test is graded, so two
    submitted at once cannot both pass the retry-wait check (domain/accreditations.py:submit)."""
    return _k(site_key, "accr-grading", f"{rid}:{tid}")


def reps(site_key: str) -> str:
    """Set of representative ids."""
    return _k(site_key, "reps")


def reps_version(site_key: str) -> str:
    """A counter bumped with every change of a rep's profile or account (domain/reps.py):
    what matching caches per worker is good while it stands."""
    return _k(site_key, "reps-v")


def rep(site_key: str, rid: str) -> str:
    """Hash: RepHash (the password as scrypt)."""
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


def results_prefix(site_key: str) -> str:
    """``results`` less the rule set's digest: the scripts that count add it
    (``redis.sha1hex(name)``), as they read the rule set from the chat."""
    return _k(site_key, "results", "")


def results(site_key: str, rule_set: str) -> str:
    """Hash of the reps' results under one rule set (named by the SHA-1 of its name, so any
    name makes a short, plain key): ``result_field(rid, RESULT_CHATS)`` -> chats ended,
    ``result_field(rid, RESULT_OK)`` -> those that counted as a success (core/results.py)."""
    return results_prefix(site_key) + hashlib.sha1(rule_set.encode()).hexdigest()


RESULT_CHATS, RESULT_OK = "chats", "ok"


def result_field(rid: str, what: str) -> str:
    return f"{rid}:{what}"


# --- Offers ----------------------------------------------------------------------------

OFFER_SITES = f"{PREFIX}:offer-sites"  # global set: sites that may have offers out, for the sweeper
NEEDY_SITES = f"{PREFIX}:needy-sites"  # global set: sites that may have visitors needing help, for the ticker
REQUEST_SITES = f"{PREFIX}:request-sites"  # global set: sites that may have waiting chat requests, for the ticker


class NeededHash(Fields):
    """That a visitor needed help (lua/ingest.lua, at their first need of a visit), kept past
    the visit for the longest attribution window: an order days later counts in this arm."""

    ARM = "arm"  # treatment | holdout
    BAND = "band"  # b1 | b2 | b3
    AT = "at"  # ms the need began
    BOUGHT = "bought"  # ms of the first order after it: a visitor who needed help converts once
    REASONS = "reasons"  # the scoring rules that fired, comma-separated
    PATH = "path"  # the page's path (no query, at most 100 characters)


def needed(site_key: str, vid: str) -> str:
    """Hash (NeededHash): the visitor's latest need of help, past their visit."""
    return _k(site_key, "needed", vid)


def order_credit(site_key: str, order_id: str) -> str:
    """JSON: what an order was attributed to, and the commission (domain/attribution.py)."""
    return _k(site_key, "credit", order_id)


def touch(site_key: str, vid: str) -> str:
    """Hash (TouchHash): the visitor's latest help episode, kept past the visit for the
    longest attribution window."""
    return _k(site_key, "touch", vid)


def sales_settings(site_key: str) -> str:
    """JSON: the attribution window and commission rates (core/attribution.py:SalesSettings)."""
    return _k(site_key, "sales")


def offer_settings(site_key: str) -> str:
    """String: the site's offer settings as JSON (absent: defaults)."""
    return _k(site_key, "offer-settings")


def deadlines(site_key: str) -> str:
    """Sorted set: visitor id -> when (ms) its offer is withdrawn, for the sweeper. Per site (in
    the site's slot), so the scripts that change offers touch one cluster slot."""
    return _k(site_key, "offer-deadlines")


def offers(site_key: str) -> str:
    """Sorted set: visitor id -> deadline (ms) of the outstanding offer that holds a slot."""
    return _k(site_key, "offers")


def offer(site_key: str, vid: str) -> str:
    """Hash: OfferHash, the visitor's current offer."""
    return _k(site_key, "offer", vid)


def cooldown(site_key: str, vid: str) -> str:
    """String with a TTL: the visitor is not offered again until it expires."""
    return _k(site_key, "cool", vid)


def requests(site_key: str) -> str:
    """Sorted set: chat request id -> created (ms), for requests not yet accepted."""
    return _k(site_key, "requests")


def request(site_key: str, req_id: str) -> str:
    """Hash: RequestHash, a chat request and then the chat."""
    return _k(site_key, "req", req_id)


def rep_alerts(site_key: str, req_id: str) -> str:
    """Set: the reps mailed that this request waits for them (their profile's e-mail alert),
    each once; it lives as long as a chat."""
    return _k(site_key, "req-alerted", req_id)


def escalations(site_key: str) -> str:
    """Sorted set: waiting request id -> when (ms) its dispatch widens next (lua/dispatch.lua)."""
    return _k(site_key, "escalations")


def response_times(site_key: str) -> str:
    """List of ms between an offer reaching the page and the customer responding (capped)."""
    return _k(site_key, "resp-times")


def accepted_waits(site_key: str) -> str:
    """List of ms customers waited for a representative and stayed (capped)."""
    return _k(site_key, "waits")


def handle_times(site_key: str) -> str:
    """List of chat durations in ms (capped), for the average handle time."""
    return _k(site_key, "handle-times")


def dead_letters(site_key: str) -> str:
    """Hash: job id -> JSON of a mail job that failed for good (domain/jobs.py:keep_dead_letter),
    until an admin resends it."""
    return _k(site_key, "dead-letters")


# Webhooks (domain/webhooks.py). Like the dead letters, these live in the job queue's Redis
# (the cluster's own single Redis beside a cluster), where the delivery jobs read and write them.


def webhooks(site_key: str) -> str:
    """Hash: endpoint id -> JSON core/webhooks.py:Endpoint.stored() (with its secret)."""
    return _k(site_key, "webhooks")


def webhook_event(site_key: str, event_id: str) -> str:
    """String: JSON {type, created, body}, one event as sent, byte for byte. TTL: 30 days."""
    return _k(site_key, "webhook-event", event_id)


def webhook_failing(site_key: str, endpoint_id: str) -> str:
    """String: how many events in a row the endpoint failed for good (every try spent), since
    it last took one; at core/webhooks.py:PAUSE_AFTER it is paused. TTL: 30 days."""
    return _k(site_key, "webhook-failing", endpoint_id)


def webhook_log(site_key: str) -> str:
    """List of JSON delivery attempts, newest first, capped (domain/webhooks.py:LOG_MAX)."""
    return _k(site_key, "webhook-log")


def hub_channel(site_key: str) -> str:
    """Sharded pub/sub channel of everything live for one site: each message names the
    channel below (a page's, the site's consoles', a rep's) it is for."""
    return _k(site_key, "hub")


def site_of(channel: str) -> str:
    """The site of a key or channel name, from its hash tag."""
    return channel[channel.index("{") + 1:channel.index("}")]


def push_channel(site_key: str, vid: str) -> str:
    """Pub/sub channel of one visitor's pages."""
    return _k(site_key, "push", vid)


def pages(site_key: str) -> str:
    """Sorted set: visitor id -> last time (ms) a web worker confirmed holding a live page
    connection of that visitor. Stale means no page of the visitor is connected."""
    return _k(site_key, "pages")


# --- Daily counters (core/counters.py) ---------------------------------------------------


def day_counts(site_key: str, day: str) -> str:
    """Hash: core/counters.py field -> count (or minor units) on one UTC day ``YYYYMMDD``,
    kept Settings.counter_retention_days."""
    return _k(site_key, "day", day)


def day_pages(site_key: str, day: str) -> str:
    """Hash: ``<arm>:<stage>:<path>`` -> count on one UTC day, for the report per page (at most
    core/counters.py:PAGES_MAX paths a day; the path last, since it may hold colons)."""
    return _k(site_key, "day-pages", day)


def day_visitors(site_key: str, day: str) -> str:
    """HyperLogLog of the visitor ids seen on one UTC day: the funnel's first step."""
    return _k(site_key, "day-visitors", day)


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


def transcripts_sent(site_key: str, who: str) -> str:
    """Counter with a day's TTL: transcripts mailed for one visitor ("v:<vid>") or to one
    address ("a:<digest>")."""
    return _k(site_key, "transcripts", who)


def rep_chats(site_key: str, rid: str) -> str:
    """Set of the chats a representative holds now."""
    return _k(site_key, "rchats", rid)


def console_channel(site_key: str) -> str:
    """Pub/sub channel to every console of the site (queue changes)."""
    return _k(site_key, "console")


def rep_channel(site_key: str, rid: str) -> str:
    """Pub/sub channel to one representative's consoles (their chats)."""
    return _k(site_key, "console", rid)


# --- Materials (issue 12: the library of replies, links and documents) ------------------


def materials(site_key: str) -> str:
    """Hash: material id -> JSON (core/materials.py:Material.as_json). A document's file lives
    on disk (Settings.media_dir), named by the random id the JSON holds, never in Redis."""
    return _k(site_key, "materials")


class MaterialUsesHash(Fields):
    """The materials used in one chat: material id -> JSON list of the facets of the use's
    context (core/practices.py:facets), plus the marks below (ids never start with "!")."""

    SOLD = "!sold"  # set once (HSETNX) when the chat's first sale was counted for its materials
    RATED = "!rated"  # set once when the chat's rating was counted


def material_uses(site_key: str, chat_id: str) -> str:
    """Hash: MaterialUsesHash. TTL: a chat's lifetime plus the longest attribution window, so a
    sale credited to the chat days later still reaches the materials used in it."""
    return _k(site_key, "mat-uses", chat_id)


def material_stats(site_key: str, facet: str) -> str:
    """Hash: "<material>|uses|sales|ratings|stars" and "<material>|rev|<currency>" (minor
    units): the materials' counts under one facet of context (core/practices.py). The facet is
    hashed into the name: it holds text the site's pages gave."""
    return _k(site_key, "mat-stats", hashlib.sha1(facet.encode("utf-8", "surrogatepass")).hexdigest()[:16])


def material_currencies(site_key: str) -> str:
    """Set: the currencies materials' sales were counted in, so the revenue fields of the
    materials that suit a chat can be asked for by name (HMGET) instead of the whole hash."""
    return _k(site_key, "mat-currencies")


def material_facets(site_key: str) -> str:
    """Set: the facets with counts (bounded by core/practices.py:FACETS_MAX), for the owner's
    views per product, reason and representative."""
    return _k(site_key, "mat-facets")


# --- Orders ------------------------------------------------------------------------------
# Sales the site records (domain/orders.py), kept for the order retention
# (BECKON_ORDER_RETENTION_DAYS): each key's TTL, and a trim of the time index.


def order(site_key: str, order_id: str) -> str:
    """String: the order as JSON (core/orders.py:Order.as_json), made with SET NX so an order
    id is stored once. TTL: the order retention."""
    return _k(site_key, "order", order_id)


def orders(site_key: str) -> str:
    """Sorted set: order id -> created (ms), for listing by time; trimmed to the retention."""
    return _k(site_key, "orders")


def order_delivery(site_key: str, msg_id: str) -> str:
    """String: JSON {digest of the body, stored, order id} of a signed delivery (named by its
    webhook-id), so a replay is answered as the first time. TTL: twice the signature's
    tolerance (an older delivery is refused by its timestamp anyway)."""
    return _k(site_key, "order-hook", msg_id)


def customer_visitors(site_key: str, kind: str, value: str) -> str:
    """Sorted set: visitor id -> ms the customer identified as that visitor (a few newest
    only), so an order naming the customer joins their visits on any device. ``kind``: "id" or
    "email"; named by a digest, not the address. TTL: the order retention."""
    return _k(site_key, "cust-v", hashlib.sha256(f"{kind}:{value}".encode()).hexdigest()[:32])


# --- Records (issue 13: customers, staff and products; domain/records.py) ------------------
# ``kind`` is one of core/records.py:KINDS. ``scope``: the site's key, or for the sites of an
# enterprise that shares its records, enterprise_records(eid), in the enterprise's slot.


def enterprise_records(eid: str) -> str:
    """The records scope an enterprise's sites share (no site key holds a colon)."""
    return f"ent:{eid}"


def records(scope: str, kind: str) -> str:
    """Hash: record key -> JSON (core/records.py: ``as_json``); a customer's key is "i:<id>", or
    "e:<e-mail>" while they have no id, a staff member's their id, a product's its model."""
    return _k(scope, "records", kind)


def records_order(scope: str, kind: str) -> str:
    """Sorted set: the same keys, all at score 0, so pages and exports go in one stable order
    (ZRANGE BYLEX from the last key a page ended at)."""
    return _k(scope, "records-order", kind)


def customer_emails(scope: str) -> str:
    """Hash: e-mail (lower-cased) -> the key of the one customer who has it."""
    return _k(scope, "customer-emails")


def records_lock(scope: str, kind: str) -> str:
    """String: held (with a TTL) while a batch of one kind is read, decided and written, so two
    imports never both take one e-mail or both create one id."""
    return _k(scope, "records-lock", kind)


class RecordUploadHash(Fields):
    """A CSV file an admin previewed in the console, waiting for their confirmation."""

    ID = "id"  # the import id the preview answered; a confirm must name it
    KIND = "kind"
    TEXT = "text"  # the file, decoded (UTF-8 checked)


def record_upload(site_key: str, rep_id: str) -> str:
    """Hash (RecordUploadHash): the one file this admin previewed last (a new preview replaces
    it, so at most one file of 4 MiB per admin waits). TTL: domain/record_imports.py:UPLOAD_TTL_S."""
    return _k(site_key, "record-upload", rep_id)


class RecordImportHash(Fields):
    """A console import's progress (core/record_imports.py:Progress), written by the web
    worker that runs it: after each batch, and its heartbeat every second."""

    KIND = "kind"
    TOTAL = "total"
    DONE = "done"
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    ERRORS = "errors"
    FINISHED = "finished"  # "1" once every row went in or was reported
    BEAT = "beat"  # ms of the last heartbeat
    STARTED = "started"  # ms
    REPORT = "report"  # JSON [{row, id, errors: [{path, message}]}] of the rows with errors, when finished
    ERROR_FILE = "error_file"  # the error rows as CSV (core/record_imports.py:error_file), when finished


def record_import(site_key: str, import_id: str) -> str:
    """Hash (RecordImportHash). TTL: domain/record_imports.py:IMPORT_TTL_S after its last write."""
    return _k(site_key, "record-import", import_id)


# --- Leads (issue 13; domain/leads.py), kept like orders for the lead retention ----------------


def lead(site_key: str, lead_id: str) -> str:
    """String: the lead as JSON (core/leads.py:Lead.as_json). TTL: the lead retention."""
    return _k(site_key, "lead", lead_id)


def leads(site_key: str) -> str:
    """Sorted set: lead id -> created (ms), for listing by time; trimmed to the retention."""
    return _k(site_key, "leads")


def lead_territories(site_key: str) -> str:
    """String: the territory table as JSON (core/leads.py:Territory.as_json rows, in order)."""
    return _k(site_key, "lead-territories")


def lead_settings(site_key: str) -> str:
    """String: JSON core/leads.py:LeadSettings (the site's extra addressees)."""
    return _k(site_key, "lead-settings")


def lead_turns(site_key: str) -> str:
    """Hash: product line (or model, or "") -> the rotation's counter, INCR'd per rotated lead."""
    return _k(site_key, "lead-turns")


def help_alerted(site_key: str, customer: str) -> str:
    """String: set once (NX, TTL core/leads.py:HELP_ALERT_EVERY_S) when a customer's assigned
    salesperson was told their customer needs help, so a long struggle is one alert an hour."""
    return _k(site_key, "help-alerted", hashlib.sha256(customer.encode("utf-8", "surrogatepass")).hexdigest()[:32])


def lead_seen(site_key: str, digest: str) -> str:
    """String: set once (NX, with a TTL) per customer and reported change of an identify(), so a
    page that sends the same identity on every batch makes one registration lead."""
    return _k(site_key, "lead-seen", digest)


# --- KEYS of each Lua script, in the order the script reads them ------------------------
# Scripts that discover ids while running (visitors in the broker, requests in the expiry)
# get key prefixes instead, built here too; every key of a call is in the site's slot.


def ingest(site_key: str, vid: str, ip: str, minute: int, day: str) -> list[str]:
    return [
        visitor(site_key, vid), trail(site_key, vid), field_dwell(site_key, vid), errors(site_key, vid),
        page_dwell(site_key, vid), active(site_key), rules(site_key), flagged(site_key),
        rate_visitor(site_key, vid, minute), rate_ip(site_key, ip, minute), needy(site_key),
        profile(site_key, vid), offer(site_key, vid), day_counts(site_key, day), day_visitors(site_key, day),
        needed(site_key, vid), day_pages(site_key, day),
    ]


def slots(site_key: str) -> list[str]:
    """The first six KEYS of the broker and the availability script (lua/lib/slots.lua)."""
    return [presence(site_key), rep_status(site_key), capacity(site_key), load(site_key), offers(site_key),
            requests(site_key)]


def load_prefixes(site_key: str) -> list[str]:
    """A rep's chat set and a request hash, less the id: lua/lib/slots.lua counts a rep's load
    from the chats that still exist."""
    return [rep_chats(site_key, ""), request(site_key, "")]


def availability(site_key: str) -> list[str]:
    return slots(site_key)


def broker(site_key: str, day: str) -> list[str]:
    return [*slots(site_key), needy(site_key), deadlines(site_key), pages(site_key), day_counts(site_key, day)]


def broker_prefixes(site_key: str) -> list[str]:
    """Visitor hash, offer hash and cool-down key, less the visitor id."""
    return [visitor(site_key, ""), offer(site_key, ""), cooldown(site_key, "")]


def withdraw(site_key: str, vid: str) -> list[str]:
    return [offer(site_key, vid), offers(site_key), cooldown(site_key, vid), deadlines(site_key)]


def respond(site_key: str, vid: str, req_id: str, day: str) -> list[str]:
    return [offer(site_key, vid), offers(site_key), cooldown(site_key, vid), deadlines(site_key), requests(site_key),
            request(site_key, req_id), response_times(site_key), visitor(site_key, vid),
            visitor_chats(site_key, vid), day_counts(site_key, day)]


def dispatch(site_key: str, req_id: str) -> list[str]:
    return [request(site_key, req_id), escalations(site_key), presence(site_key), rep_status(site_key),
            load(site_key), capacity(site_key)]


def dispatch_prefixes(site_key: str) -> list[str]:
    """A rep's hash, less the id: dispatch.lua reads a rep's profile there (loads, capacities
    and the last chat come from the site's hashes, in KEYS)."""
    return [rep(site_key, "")]


def claim(site_key: str, chat_id: str, rid: str, day: str) -> list[str]:
    return [request(site_key, chat_id), requests(site_key), load(site_key), capacity(site_key),
            accepted_waits(site_key), rep_chats(site_key, rid), rep(site_key, rid), day_counts(site_key, day)]


def end_chat(site_key: str, chat_id: str, rid: str, vid: str, day: str) -> list[str]:
    return [request(site_key, chat_id), requests(site_key), load(site_key), rep_chats(site_key, rid),
            handle_times(site_key), messages(site_key, chat_id), client_ids(site_key, chat_id),
            visitor(site_key, vid), cooldown(site_key, vid), day_counts(site_key, day)]


def outcome(site_key: str, chat_id: str, day: str) -> list[str]:
    return [request(site_key, chat_id), day_counts(site_key, day)]


def transfer(site_key: str, chat_id: str, from_rid: str, to_rid: str) -> list[str]:
    return [request(site_key, chat_id), load(site_key), capacity(site_key), rep_chats(site_key, from_rid),
            rep_chats(site_key, to_rid), rep(site_key, to_rid)]


def say(site_key: str, chat_id: str) -> list[str]:
    return [messages(site_key, chat_id), client_ids(site_key, chat_id), request(site_key, chat_id)]


def expire_requests(site_key: str) -> list[str]:
    return [requests(site_key), pages(site_key)]


def expire_requests_prefixes(site_key: str) -> list[str]:
    """Request hash, visitor hash, messages stream and client ids, less the id."""
    return [request(site_key, ""), visitor(site_key, ""), messages(site_key, ""), client_ids(site_key, "")]


def reveal(site_key: str, token: str) -> str:
    """String: JSON {rep, payload}, a secret shown once after a redirect (domain/reveals.py).
    TTL: a few minutes; taken with GETDEL."""
    return _k(site_key, "reveal", token)
