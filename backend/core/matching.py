"""Matching: which representatives may take a visitor's request, and in which order.

A site keeps an ordered list of rule sets. ``choose_rule_set`` picks the first whose
condition holds for the session (the built-in ``DEFAULT`` when none does); ``rank`` applies
its hard filters (each filtered rep is listed with its reasons) and scores every rep left:
score = sum of weight x rule score, each rule score from 0 to 1, so a ranking explains
itself rule by rule.

Slice 3 runs ``rank`` in Redis (ranking and reservation in one script) with a Lua twin held
equal to this one by a property test, as ``scoring.py`` is to ``ingest.lua``. So the
arithmetic here is what Lua does the same way on doubles: one division or multiplication per
rule, the sum taken in ``RULES`` order, ``_round6`` (``floor(x * 1e6 + 0.5) / 1e6``) applied
once at the end, ties broken by rep id; no ``math`` beyond ``floor`` and ``min``. What Lua
cannot do is done before it: ``choose_rule_set`` (glob patterns) runs in Python, and so does
the schedule check (``on_duty``, time zones), handed to the script as one flag per rep.

Pure: no I/O. ``validate_rule_sets`` answers ``RuleSets`` or every problem as (path, message)
and never raises, whatever it is given.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from backend.core.rep_profile import EMPTY, Profile, language_tag, on_schedule
from backend.core.validation import finite_number, is_text

Errors = list[tuple[str, str]]

# Weighted rules, in the order their contributions are summed (the Lua twin sums the same way).
RULES: tuple[str, ...] = ("skill", "language", "area", "accreditation", "account_owner", "capacity",
                          "fairness", "results")
RULE_HELP = {
    "skill": "the rep's proficiency (1-5) in the product viewed, / 5",
    "language": "1 when the rep's first language is the visitor's, 0.5 when another of theirs is",
    "area": "1 when one of the rep's areas is a prefix of the visitor's area (postcode, region)",
    "accreditation": "the rep's accreditation level (1-5) for the product viewed, / 5",
    "account_owner": "1 for the rep assigned to this identified customer",
    "capacity": "free chat slots / capacity",
    "fairness": "time since the rep's last chat / horizon_s, at most 1",
    "results": "the rep's smoothed success rate in this rule set: "
               "(successes + prior_rate x prior_chats) / (chats + prior_chats)",
}
FILTERS: tuple[str, ...] = ("language", "accredited", "on_schedule")
FILTER_DEFAULTS = {"language": True, "accredited": False, "on_schedule": True}
MODES = ("best", "top_n", "all")
MAX_LEVEL = 5  # proficiency and accreditation levels run 1-5
FAIRNESS_HORIZON_S = 600
PRIOR_RATE, PRIOR_CHATS = 0.5, 10  # a rep without history counts as 5 successes in 10 chats
MAX_SETS, MAX_PAGES, MAX_ITEMS, NAME_MAX, PATTERN_MAX = 50, 200, 50, 64, 200
WEIGHT_MAX = 100.0
RESERVED = "default"  # the built-in rule set's name


def _round6(x: float) -> float:
    return math.floor(x * 1e6 + 0.5) / 1e6


def norm(text: str) -> str:
    """Names compare lower-cased with whitespace collapsed, as the profile stores them."""
    return " ".join(text.split()).lower()


# --- facts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SessionFacts:
    """What matching knows about a visitor's session. Empty text means unknown."""

    service_point: str = ""
    path: str = "/"  # the current page's URL path
    category: str = ""  # from the site's page map
    product: str = ""  # the product viewed, from the site's page map
    cart_value: float = 0.0
    language: str = ""  # BCP 47
    area: str = ""  # postcode, area code or region, upper-case
    customer: str = ""  # identified customer id
    account_owner: str = ""  # the rep id assigned to this customer
    flagged: bool = False
    first_visit: bool = True


@dataclass(frozen=True)
class Results:
    chats: int = 0
    successes: int = 0


@dataclass(frozen=True)
class RepFacts:
    """What matching knows about a representative."""

    id: str
    name: str = ""
    profile: Profile = EMPTY
    active: bool = True
    status: str = "available"  # available | away | offline
    load: int = 0  # chats held now
    since_last_chat_s: float | None = None  # None: no chat known
    accreditations: dict[str, int] = field(default_factory=dict)  # product -> level 1-5
    results: dict[str, Results] = field(default_factory=dict)  # rule set name -> results


# --- rule sets -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """Every field given must hold; within a list, any one entry. Empty: always."""

    service_points: tuple[str, ...] = ()
    url_patterns: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    cart_min: float | None = None  # inclusive
    cart_max: float | None = None  # exclusive
    languages: tuple[str, ...] = ()
    areas: tuple[str, ...] = ()  # prefixes of the visitor's area
    identified: bool | None = None
    flagged: bool | None = None
    first_visit: bool | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in CONDITION_LISTS:
            if getattr(self, name):
                out[name] = list(getattr(self, name))
        for name in CONDITION_VALUES:
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


CONDITION_LISTS = ("service_points", "url_patterns", "categories", "products", "languages", "areas")
CONDITION_VALUES = ("cart_min", "cart_max", "identified", "flagged", "first_visit")


@dataclass(frozen=True)
class Rule:
    weight: float
    horizon_s: float = FAIRNESS_HORIZON_S  # fairness
    prior_rate: float = PRIOR_RATE  # results
    prior_chats: float = PRIOR_CHATS  # results

    def as_json(self, name: str) -> dict[str, Any]:
        out: dict[str, Any] = {"weight": self.weight}
        if name == "fairness":
            out["horizon_s"] = self.horizon_s
        if name == "results":
            out.update(prior_rate=self.prior_rate, prior_chats=self.prior_chats)
        return out


@dataclass(frozen=True)
class Dispatch:
    """How slice 3 offers the request: to the best rep, widening by ``widen_by`` every
    ``escalate_after_s``; to the top ``n`` at once (then to all after ``escalate_after_s``);
    or to every eligible rep."""

    mode: str = "all"
    n: int = 3  # top_n
    widen_by: int = 1  # best
    escalate_after_s: float = 30
    # Must be contacted: ranked again every escalate_after_s until someone eligible accepts,
    # and the site's admins alerted when nobody has within the site's limit.
    must_contact: bool = False

    def as_json(self) -> dict[str, Any]:
        if self.mode == "all":
            out: dict[str, Any] = {"mode": "all", "escalate_after_s": self.escalate_after_s} if self.must_contact \
                else {"mode": "all"}
        elif self.mode == "top_n":
            out = {"mode": "top_n", "n": self.n, "escalate_after_s": self.escalate_after_s}
        else:
            out = {"mode": "best", "widen_by": self.widen_by, "escalate_after_s": self.escalate_after_s}
        return {**out, "must_contact": True} if self.must_contact else out


@dataclass(frozen=True)
class RuleSet:
    name: str
    when: Condition = Condition()
    filters: tuple[str, ...] = ("language", "on_schedule")  # the hard filters on, in FILTERS order
    rules: dict[str, Rule] = field(default_factory=dict)  # in RULES order
    dispatch: Dispatch = Dispatch()

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "when": self.when.as_json(),
                "filters": {f: f in self.filters for f in FILTERS},
                "rules": {name: rule.as_json(name) for name, rule in self.rules.items()},
                "dispatch": self.dispatch.as_json()}


@dataclass(frozen=True)
class Page:
    """A URL path pattern naming the category and product of the pages it matches."""

    pattern: str
    category: str = ""
    product: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "category": self.category, "product": self.product}


@dataclass(frozen=True)
class RuleSets:
    pages: tuple[Page, ...] = ()
    sets: tuple[RuleSet, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"pages": [p.as_json() for p in self.pages], "rule_sets": [s.as_json() for s in self.sets]}


# Without configuration: every active rep who is available, has a free slot and is on
# schedule, the freest and longest-idle first (today's behaviour: anyone free may answer).
DEFAULT = RuleSet(name=RESERVED, filters=("on_schedule",),
                  rules={"capacity": Rule(0.5), "fairness": Rule(0.5)}, dispatch=Dispatch("all"))
NONE = RuleSets()


# --- validation ------------------------------------------------------------------------------
# Each check appends its problems and answers the clean value, or None after a problem. They
# look only at the shapes they expect, never recurse into what they are given, and never
# echo a value back: no input can make them raise or run long.


def _label(path: str, key: object, index: int) -> str:
    """A path naming a key the sender chose, when it is safe to echo back; else its position."""
    if is_text(key) and 0 < len(key) <= NAME_MAX and key.isprintable():  # type: ignore[union-attr]
        return f"{path}.{key}" if path else str(key)
    return f"{path}[{index}]"


def _object(value: object, path: str, allowed: tuple[str, ...], errors: Errors) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        errors.append((path, "must be an object with " + ", ".join(allowed)))
        return None
    for i, key in enumerate(value):
        if key not in allowed:
            errors.append((_label(path, key, i), "unknown field; allowed: " + ", ".join(allowed)))
    return value


def _name(value: object, path: str, errors: Errors) -> str | None:
    name = norm(value) if is_text(value) and len(value) <= NAME_MAX * 4 else ""  # type: ignore[arg-type]
    if not 0 < len(name) <= NAME_MAX or not name.isprintable():
        errors.append((path, f"must be a name of 1-{NAME_MAX} characters"))
        return None
    return name


def _title(value: object, path: str, errors: Errors) -> str | None:
    """A rule set's name as the owner wrote it (trimmed): it names the set in rankings."""
    name = " ".join(value.split()) if is_text(value) and len(value) <= NAME_MAX * 4 else ""  # type: ignore
    if not 0 < len(name) <= NAME_MAX or not name.isprintable():
        errors.append((path, f"must be a name of 1-{NAME_MAX} characters"))
        return None
    return name


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _number(value: object, path: str, low: float, high: float, errors: Errors, whole: bool = False) -> Any:
    ok = finite_number(value) and low <= value <= high  # type: ignore[operator]
    if ok and whole and not (isinstance(value, int) or float(value).is_integer()):  # type: ignore[arg-type]
        ok = False
    if not ok:
        errors.append((path, f"must be a {'whole ' if whole else ''}number from {_fmt(low)} to {_fmt(high)}"))
        return None
    return int(value) if whole else value  # type: ignore[arg-type]


def _flag(value: object, path: str, errors: Errors, nullable: bool = False) -> bool | None:
    if isinstance(value, bool) or (nullable and value is None):
        return value  # type: ignore[return-value]
    errors.append((path, "must be true or false" + (" (or null)" if nullable else "")))
    return None


def _pattern(value: object, path: str, errors: Errors) -> str | None:
    if not is_text(value) or not 0 < len(value) <= PATTERN_MAX or not value.startswith("/"):  # type: ignore
        errors.append((path, f"must be a URL path pattern of 1-{PATTERN_MAX} characters such as /kayaks*"))
        return None
    return value  # type: ignore[return-value]


def _strings(value: object, path: str, errors: Errors, kind: str) -> tuple[str, ...] | None:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        errors.append((path, f"must be a list of at most {MAX_ITEMS} entries"))
        return None
    before, out = len(errors), []
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if kind == "pattern":
            clean = _pattern(item, where, errors)
        elif kind == "language":
            clean = language_tag(item) if is_text(item) else None
            if clean is None:
                errors.append((where, "must be a language tag such as en, fr or pt-BR"))
        elif kind == "point":  # service points compare exactly, as in scoring
            clean = item if is_text(item) and 0 < len(item) <= NAME_MAX else None  # type: ignore[arg-type]
            if clean is None:
                errors.append((where, f"must be a service point name of 1-{NAME_MAX} characters"))
        else:
            clean = _name(item, where, errors)
            clean = clean.upper() if clean and kind == "area" else clean
        if clean is not None and clean not in out:
            out.append(clean)
    return tuple(out) if len(errors) == before else None


def _condition(value: object, path: str, errors: Errors) -> Condition | None:
    data = _object(value, path, CONDITION_LISTS + CONDITION_VALUES, errors)
    if data is None:
        return None
    before, clean = len(errors), {}
    kinds = {"service_points": "point", "url_patterns": "pattern", "languages": "language", "areas": "area"}
    for name in CONDITION_LISTS:
        if name in data:
            clean[name] = _strings(data[name], f"{path}.{name}", errors, kinds.get(name, "name"))
    for name in ("cart_min", "cart_max"):
        if data.get(name) is not None:
            clean[name] = _number(data[name], f"{path}.{name}", 0, 1e12, errors)
    for name in ("identified", "flagged", "first_visit"):
        if name in data:
            clean[name] = _flag(data[name], f"{path}.{name}", errors, nullable=True)
    low, high = clean.get("cart_min"), clean.get("cart_max")
    if low is not None and high is not None and low >= high:
        errors.append((f"{path}.cart_max", "must be above cart_min"))
    return Condition(**clean) if len(errors) == before else None


def _filters(value: object, path: str, errors: Errors) -> tuple[str, ...] | None:
    data = _object(value, path, FILTERS, errors)
    if data is None:
        return None
    before = len(errors)
    on = {name: _flag(data.get(name, FILTER_DEFAULTS[name]), f"{path}.{name}", errors) for name in FILTERS}
    return tuple(name for name in FILTERS if on[name]) if len(errors) == before else None


def _rules(value: object, path: str, errors: Errors) -> dict[str, Rule] | None:
    data = _object(value, path, RULES, errors)
    if data is None:
        return None
    before, out = len(errors), {}
    for name in RULES:
        if name not in data:
            continue
        where = f"{path}.{name}"
        extra = {"fairness": ("horizon_s",), "results": ("prior_rate", "prior_chats")}.get(name, ())
        rule = _object(data[name], where, ("weight",) + extra, errors)
        if rule is None:
            continue
        weight = _number(rule.get("weight"), f"{where}.weight", 0, WEIGHT_MAX, errors)
        params: dict[str, Any] = {}
        if "horizon_s" in extra:
            params["horizon_s"] = _number(rule.get("horizon_s", FAIRNESS_HORIZON_S), f"{where}.horizon_s", 1,
                                          86400 * 30, errors)
        if "prior_rate" in extra:
            params["prior_rate"] = _number(rule.get("prior_rate", PRIOR_RATE), f"{where}.prior_rate", 0, 1, errors)
            params["prior_chats"] = _number(rule.get("prior_chats", PRIOR_CHATS), f"{where}.prior_chats", 1,
                                            10_000, errors)
        if len(errors) == before:
            out[name] = Rule(weight, **params)
    return out if len(errors) == before else None


def _dispatch(value: object, path: str, errors: Errors) -> Dispatch | None:
    data = _object(value, path, ("mode", "n", "widen_by", "escalate_after_s", "must_contact"), errors)
    if data is None:
        return None
    mode = data.get("mode", "all")
    if mode not in MODES:
        errors.append((f"{path}.mode", "must be one of " + ", ".join(MODES)))
        return None
    allowed = {"best": ("widen_by", "escalate_after_s"), "top_n": ("n", "escalate_after_s"), "all": ()}[mode]
    if data.get("must_contact") is True:  # ranked again every escalate_after_s, whatever the mode
        allowed = allowed if "escalate_after_s" in allowed else ("escalate_after_s",)
    before = len(errors)
    for key in data:
        if key in ("n", "widen_by", "escalate_after_s") and key not in allowed:
            errors.append((f"{path}.{key}", f"does not apply to mode {mode}"))
    params: dict[str, Any] = {}
    if "n" in allowed:
        params["n"] = _number(data.get("n", 3), f"{path}.n", 1, 100, errors, whole=True)
    if "widen_by" in allowed:
        params["widen_by"] = _number(data.get("widen_by", 1), f"{path}.widen_by", 1, 100, errors, whole=True)
    if "escalate_after_s" in allowed:
        params["escalate_after_s"] = _number(data.get("escalate_after_s", 30), f"{path}.escalate_after_s", 5, 3600,
                                             errors)
    params["must_contact"] = _flag(data.get("must_contact", False), f"{path}.must_contact", errors)
    return Dispatch(mode, **params) if len(errors) == before else None


def _rule_set(value: object, path: str, errors: Errors) -> RuleSet | None:
    data = _object(value, path, ("name", "when", "filters", "rules", "dispatch"), errors)
    if data is None:
        return None
    before = len(errors)
    name = _title(data.get("name"), f"{path}.name", errors)
    if name is not None and name.lower() == RESERVED:
        errors.append((f"{path}.name", "'default' names the built-in rule set used when no other applies"))
    when = _condition(data.get("when", {}), f"{path}.when", errors)
    filters = _filters(data.get("filters", {}), f"{path}.filters", errors)
    rules = _rules(data.get("rules", {}), f"{path}.rules", errors)
    dispatch = _dispatch(data.get("dispatch", {}), f"{path}.dispatch", errors)
    if len(errors) > before:
        return None
    return RuleSet(name, when, filters, rules, dispatch)  # type: ignore[arg-type]


def _pages(value: object, errors: Errors) -> tuple[Page, ...] | None:
    if not isinstance(value, list) or len(value) > MAX_PAGES:
        errors.append(("pages", f"must be a list of at most {MAX_PAGES} pages {{pattern, category, product}}"))
        return None
    before, out = len(errors), []
    for i, item in enumerate(value):
        path = f"pages[{i}]"
        data = _object(item, path, ("pattern", "category", "product"), errors)
        if data is None:
            continue
        pattern = _pattern(data.get("pattern"), f"{path}.pattern", errors)
        named = {k: _name(data[k], f"{path}.{k}", errors) for k in ("category", "product") if data.get(k) != ""
                 and k in data}
        if not named:
            errors.append((path, "names a category, a product or both"))
        if pattern is not None and all(named.values()):
            out.append(Page(pattern, named.get("category") or "", named.get("product") or ""))
    return tuple(out) if len(errors) == before else None


def validate_rule_sets(raw: object) -> RuleSets | Errors:
    """The site's page map and rule sets, or every problem found with its path
    (``rule_sets[1].rules.fairness.horizon_s``). Never raises."""
    if not isinstance(raw, dict):
        return [("", "must be a JSON object {pages, rule_sets}")]
    errors: Errors = []
    data = _object(raw, "", ("pages", "rule_sets"), errors)
    assert data is not None
    pages = _pages(data.get("pages", []), errors)
    sets: list[RuleSet] = []
    items = data.get("rule_sets", [])
    if not isinstance(items, list) or len(items) > MAX_SETS:
        errors.append(("rule_sets", f"must be a list of at most {MAX_SETS} rule sets"))
        items = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        found = _rule_set(item, f"rule_sets[{i}]", errors)
        if found is not None:
            sets.append(found)
        name = item.get("name") if isinstance(item, dict) else None
        key = " ".join(name.split()).lower() if is_text(name) and len(name) <= NAME_MAX * 4 else ""  # type: ignore
        if key in seen:
            errors.append((f"rule_sets[{i}].name", "another rule set has this name"))
        elif key:
            seen.add(key)
    if errors:
        return errors
    return RuleSets(pages or (), tuple(sets))


def read_rule_sets(raw: object) -> RuleSets:
    """What is stored, read back; anything that no longer validates reads as no rule sets
    (the default applies), so reading never fails."""
    found = validate_rule_sets(raw)
    return found if isinstance(found, RuleSets) else NONE


# --- choosing ---------------------------------------------------------------------------------


def page_of(rule_sets: RuleSets, path: str) -> Page | None:
    """The first page pattern the path matches (category and product of the page)."""
    for page in rule_sets.pages:
        if fnmatch.fnmatchcase(path, page.pattern):
            return page
    return None


def _primary(tag: str) -> str:
    return tag.split("-")[0].lower()


def holds(when: Condition, s: SessionFacts) -> bool:
    checks = (
        not when.service_points or s.service_point in when.service_points,
        not when.url_patterns or any(fnmatch.fnmatchcase(s.path, p) for p in when.url_patterns),
        not when.categories or s.category in when.categories,
        not when.products or s.product in when.products,
        when.cart_min is None or s.cart_value >= when.cart_min,
        when.cart_max is None or s.cart_value < when.cart_max,
        not when.languages or (s.language != "" and _primary(s.language) in {_primary(t) for t in when.languages}),
        not when.areas or (s.area != "" and any(s.area.startswith(a) for a in when.areas)),
        when.identified is None or when.identified == (s.customer != ""),
        when.flagged is None or when.flagged == s.flagged,
        when.first_visit is None or when.first_visit == s.first_visit,
    )
    return all(checks)


def choose_rule_set(rule_sets: RuleSets, session: SessionFacts) -> RuleSet:
    """The first rule set whose condition holds; the built-in default when none does."""
    for rule_set in rule_sets.sets:
        if holds(rule_set.when, session):
            return rule_set
    return DEFAULT


# --- ranking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    filter: str  # inactive | offline | away | full | on_schedule | language | accredited
    message: str


@dataclass(frozen=True)
class Contribution:
    rule: str
    weight: float
    score: float  # 0..1
    contribution: float  # weight x score


@dataclass(frozen=True)
class Ranked:
    rep: str
    name: str
    score: float
    contributions: tuple[Contribution, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rep": self.rep, "name": self.name, "score": self.score,
                "contributions": [vars(c) for c in self.contributions]}


@dataclass(frozen=True)
class Filtered:
    rep: str
    name: str
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict[str, Any]:
        return {"rep": self.rep, "name": self.name, "reasons": [vars(r) for r in self.reasons]}


@dataclass(frozen=True)
class Ranking:
    rule_set: RuleSet
    ranked: tuple[Ranked, ...]  # best first
    filtered: tuple[Filtered, ...]  # by rep id

    def as_json(self) -> dict[str, Any]:
        return {"rule_set": self.rule_set.as_json(), "ranked": [r.as_json() for r in self.ranked],
                "filtered": [f.as_json() for f in self.filtered]}


def _language_score(rep: RepFacts, language: str) -> float:
    if language == "":
        return 0.0  # unknown: tells no rep apart
    for i, tag in enumerate(rep.profile.languages):
        if _primary(tag) == _primary(language):
            return 1.0 if i == 0 else 0.5
    return 0.0


def smoothed_rate(results: Results, prior_rate: float, prior_chats: float) -> float:
    """A Bayesian average (a Beta prior of ``prior_chats`` chats at ``prior_rate``): a rep
    with 2 chats stays near the prior, one with 200 near their own rate."""
    return (results.successes + prior_rate * prior_chats) / (results.chats + prior_chats)


def rule_score(name: str, rule: Rule, rule_set: str, s: SessionFacts, rep: RepFacts) -> float:
    """One rule's score for a rep, from 0 to 1."""
    if name == "skill":
        return min(rep.profile.skills.get(s.product, 0), MAX_LEVEL) / MAX_LEVEL if s.product else 0.0
    if name == "language":
        return _language_score(rep, s.language)
    if name == "area":
        return 1.0 if s.area != "" and any(s.area.startswith(a) for a in rep.profile.areas) else 0.0
    if name == "accreditation":
        return min(rep.accreditations.get(s.product, 0), MAX_LEVEL) / MAX_LEVEL if s.product else 0.0
    if name == "account_owner":
        return 1.0 if s.account_owner != "" and s.account_owner == rep.id else 0.0
    if name == "capacity":
        free = rep.profile.capacity - rep.load
        return 0.0 if free <= 0 else min(free / rep.profile.capacity, 1.0)
    if name == "fairness":
        since = rep.since_last_chat_s
        return 1.0 if since is None else min(max(since, 0.0) / rule.horizon_s, 1.0)
    if name == "results":
        return smoothed_rate(rep.results.get(rule_set, Results()), rule.prior_rate, rule.prior_chats)
    raise ValueError(f"unknown rule {name}")


def on_duty(rep: RepFacts, now: datetime) -> bool:
    """The schedule check, done in Python (time zones) before ranking, here and for Lua."""
    return on_schedule(rep.profile, now)


def reasons(rule_set: RuleSet, s: SessionFacts, rep: RepFacts, duty: bool) -> tuple[Reason, ...]:
    """Why a rep may not take this visitor; empty when they may."""
    out: list[Reason] = []
    if not rep.active:
        out.append(Reason("inactive", "the account is deactivated"))
    elif rep.status != "available":
        out.append(Reason(rep.status if rep.status in ("away", "offline") else "offline",
                          f"not available ({rep.status})"))
    if rep.load >= rep.profile.capacity:
        out.append(Reason("full", f"holds {rep.load} of {rep.profile.capacity} chats"))
    if "on_schedule" in rule_set.filters and not duty:
        out.append(Reason("on_schedule", "outside their working hours"))
    if "language" in rule_set.filters and s.language != "" and _language_score(rep, s.language) == 0.0:
        out.append(Reason("language", f"does not speak {s.language}"))
    if "accredited" in rule_set.filters and s.product != "" and rep.accreditations.get(s.product, 0) < 1:
        out.append(Reason("accredited", f"not accredited for {s.product}"))
    return tuple(out)


def rank(rule_set: RuleSet, session: SessionFacts, reps: list[RepFacts], now: datetime) -> Ranking:
    """Every rep either ranked (best first, ties by id) with each rule's contribution, or
    filtered out with its reasons."""
    ranked: list[Ranked] = []
    filtered: list[Filtered] = []
    for rep in sorted(reps, key=lambda r: r.id):
        why = reasons(rule_set, session, rep, on_duty(rep, now))
        if why:
            filtered.append(Filtered(rep.id, rep.name, why))
            continue
        total, parts = 0.0, []
        for name in RULES:
            rule = rule_set.rules.get(name)
            if rule is None:
                continue
            score = rule_score(name, rule, rule_set.name, session, rep)
            total += rule.weight * score
            parts.append(Contribution(name, rule.weight, _round6(score), _round6(rule.weight * score)))
        ranked.append(Ranked(rep.id, rep.name, _round6(total), tuple(parts)))
    ranked.sort(key=lambda r: -r.score)  # stable: equal scores stay in id order
    return Ranking(rule_set, tuple(ranked), tuple(filtered))
