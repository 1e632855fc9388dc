"""Representatives' profiles over HTTP, on real Redis: the site API creates, changes and
returns them with every validation error listed; reps stored before profiles read as empty
profiles; another site's key sees nothing; the admin's form and the rep's own "My profile"
page show each error beside its field and escape what was typed."""

from __future__ import annotations

import json
import re

import redis
from starlette.testclient import TestClient

from backend.store import keys
from tests.helpers import PASSWORD, admin, console_login, make_rep

PROFILE = {
    "skills": {"Kayaks": 5, "billing": 2}, "languages": ["fr", "en_gb"], "products": ["Sea Kayaks", "paddles"],
    "areas": ["75", "sw1"], "capacity": 4,
    "schedule": {"timezone": "Europe/Paris", "hours": {"mon": ["09:00-17:30"], "sat": ["22:00-02:00"]},
                 "days_off": ["2025-12-25"]},
    "alerts": {"channels": ["console", "email"], "email_after_s": 90},
}
STORED = {
    "capacity": 4, "skills": {"billing": 2, "kayaks": 5}, "languages": ["fr", "en-GB"],
    "products": ["paddles", "sea kayaks"], "areas": ["75", "SW1"],
    "schedule": {"timezone": "Europe/Paris", "days_off": ["2025-12-25"],
                 "hours": {"mon": ["09:00-17:30"], "tue": [], "wed": [], "thu": [], "fri": [], "sat": ["22:00-02:00"],
                           "sun": []}},
    "alerts": {"channels": ["console", "email"], "email_after_s": 90},
}
EMPTY = {"capacity": 3, "skills": {}, "languages": [], "products": [], "areas": [], "schedule": None,
         "alerts": {"channels": ["console"], "email_after_s": None}}


def profile_of(rep: dict) -> dict:
    return {k: rep[k] for k in EMPTY}


def errors_beside(html: str, field: str) -> str:
    found = re.search(rf'id="{field}-errors".*?</ul>', html, re.S)
    return found.group(0) if found else ""


# --- the site API ------------------------------------------------------------------------------

def test_a_rep_is_created_with_a_profile_and_changed_field_by_field(client: TestClient, site: dict) -> None:
    key = site["key"]
    r = client.post(f"/v1/sites/{key}/reps", json={"name": "Léa", "email": "lea@shop.example",
                                                   "password": PASSWORD, **PROFILE}, headers=admin())
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    assert profile_of(r.json()) == STORED
    assert profile_of(client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()) == STORED
    # a change names only what changes; the rest stays
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={"languages": ["de"], "skills": ["returns"]}, headers=admin())
    assert r.status_code == 200, r.text
    assert profile_of(r.json()) == {**STORED, "languages": ["de"], "skills": {"returns": 3}}
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={"schedule": None, "alerts": {"channels": []}}, headers=admin())
    assert profile_of(r.json())["schedule"] is None and r.json()["alerts"] == {"channels": [], "email_after_s": None}
    listed = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    assert [profile_of(x)["languages"] for x in listed] == [["de"]]


def test_every_profile_error_is_listed_with_its_field_and_nothing_is_stored(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid = make_rep(client, key)
    before = client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={
        "skills": {"billing": 7}, "languages": ["klingon"], "areas": "SW1", "capacity": 0,
        "schedule": {"timezone": "Europe/Pariss", "hours": {"mon": ["17:00-17:00"]}, "days_off": ["25/12/2025"]},
        "alerts": {"channels": ["pager"], "email_after_s": 5}, "mood": "happy"}, headers=admin())
    assert r.status_code == 400
    assert r.json()["error"] == "the change is not valid"
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["mood", "capacity", "skills.billing", "languages[0]", "areas", "schedule.timezone",
                      "schedule.hours.mon[0]", "schedule.days_off[0]", "alerts.channels[0]", "alerts.email_after_s"]
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json() == before
    r = client.post(f"/v1/sites/{key}/reps", json={"name": "X", "email": "x@shop.example", "password": PASSWORD,
                                                   "schedule": {"hours": {"mon": ["9 to 5"]}}}, headers=admin())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == ["schedule.timezone", "schedule.hours.mon[0]"]


def test_a_rep_stored_before_profiles_reads_as_an_empty_profile(client: TestClient, site: dict,
                                                               redis_client: redis.Redis) -> None:
    key = site["key"]
    rid = make_rep(client, key)
    hash_key, fields = keys.rep(key, rid), keys.RepHash
    redis_client.hdel(hash_key, fields.LANGUAGES, fields.PRODUCTS, fields.AREAS, fields.SCHEDULE, fields.ALERTS)
    redis_client.hset(hash_key, mapping={fields.SKILLS: json.dumps(["billing", "french"]), fields.AREA: "EU"})
    rep = client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()
    assert profile_of(rep) == {**EMPTY, "capacity": 1, "skills": {"billing": 3, "french": 3}, "areas": ["EU"]}
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={"languages": ["en"]}, headers=admin())
    assert profile_of(r.json()) == {**EMPTY, "capacity": 1, "skills": {"billing": 3, "french": 3}, "areas": ["EU"],
                                    "languages": ["en"]}
    # a stored field that no longer reads (damaged) is empty, and the rep still loads
    redis_client.hset(hash_key, fields.SCHEDULE, '{"timezone": "Nowhere/Atlantis"}')
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()["schedule"] is None


def test_another_sites_key_cannot_read_or_change_a_profile(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid = make_rep(client, key)
    client.put(f"/v1/sites/{key}/reps/{rid}", json={"languages": ["fr"]}, headers=admin())
    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    token = client.post(f"/v1/sites/{other}/api-keys", json={"label": "theirs"}, headers=admin()).json()["key"]
    theirs = {"Authorization": f"Bearer {token}"}
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=theirs).status_code == 404
    r = client.put(f"/v1/sites/{key}/reps/{rid}", json={"languages": ["de"], "schedule": None}, headers=theirs)
    assert r.status_code == 404 and r.json() == {"error": "no such site"}
    assert client.get(f"/v1/sites/{other}/reps/{rid}", headers=theirs).status_code == 404  # not under their site
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()["languages"] == ["fr"]


# --- the admin's form ----------------------------------------------------------------------------

def admin_and_rep(client: TestClient, key: str) -> tuple[str, str]:
    make_rep(client, key, email="boss@shop.example", name="Bea Boss", role="admin")
    return make_rep(client, key, email="ria@shop.example", name="Ria"), console_login(client, "boss@shop.example")


FORM = {"name": "Ria", "email": "ria@shop.example", "role": "rep", "password": "", "capacity": "2",
        "skills": "kayaks:5, billing", "languages": "fr, en", "products": "kayaks", "areas": "75, SW1",
        "timezone": "Europe/Paris", "hours_mon": "09:00-12:00, 13:00-17:30", "hours_tue": "", "hours_wed": "",
        "hours_thu": "", "hours_fri": "22:00-02:00", "hours_sat": "", "hours_sun": "", "days_off": "2025-12-25",
        "alerts": "1", "alert_console": "on", "alert_email": "on", "email_after_s": "120"}


def test_the_admin_edits_a_profile_and_sees_each_error_beside_its_field(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid, csrf = admin_and_rep(client, key)
    page = client.get(f"/console/admin/reps/{rid}")
    assert page.status_code == 200 and 'name="hours_mon"' in page.text and 'name="timezone"' in page.text
    bad = {**FORM, "csrf": csrf, "skills": "kayaks:9", "languages": "french!", "timezone": "Paris",
           "hours_mon": "9am-5pm", "days_off": "Christmas", "email_after_s": "soon",
           "areas": "<script>alert(1)</script>"}
    r = client.post(f"/console/admin/reps/{rid}", data=bad)
    assert r.status_code == 400
    assert "proficiency must be a whole number from 1 to 5" in errors_beside(r.text, "skills")
    assert "language tag" in errors_beside(r.text, "languages")
    assert "must be a time zone" in errors_beside(r.text, "timezone")
    assert "09:00-17:30" in errors_beside(r.text, "hours_mon")
    assert "must be a date" in errors_beside(r.text, "days_off")
    assert "whole number of seconds" in errors_beside(r.text, "email_after_s")
    assert 'value="Paris"' in r.text  # what was typed is shown again
    assert "<script>alert(1)" not in r.text and "&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()["schedule"] is None  # nothing saved

    r = client.post(f"/console/admin/reps/{rid}", data={**FORM, "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/admin/reps/{rid}?saved=1"
    shown = client.get(r.headers["location"]).text
    assert "Profile saved." in shown and "kayaks (5/5)" in shown and "Europe/Paris" in shown
    rep = client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()
    assert rep["skills"] == {"billing": 3, "kayaks": 5} and rep["areas"] == ["75", "SW1"]
    assert rep["schedule"]["hours"]["fri"] == ["22:00-02:00"] and rep["schedule"]["days_off"] == ["2025-12-25"]
    assert rep["alerts"] == {"channels": ["console", "email"], "email_after_s": 120}
    # blank schedule fields: no set hours any more
    days = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    blank = {**FORM, "csrf": csrf, "timezone": "", "days_off": "", **{f"hours_{d}": "" for d in days}}
    assert client.post(f"/console/admin/reps/{rid}", data=blank, follow_redirects=False).status_code == 303
    assert client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()["schedule"] is None


def test_a_plain_rep_cannot_open_the_admins_profile_form(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid, _ = admin_and_rep(client, key)
    csrf = console_login(client, "ria@shop.example")
    assert client.get(f"/console/admin/reps/{rid}").status_code == 403
    assert client.post(f"/console/admin/reps/{rid}", data={"csrf": csrf, "skills": "everything:5"}).status_code == 403
    assert client.get("/console/admin/reps/nosuchrep", follow_redirects=False).status_code == 403


# --- the rep's own page -------------------------------------------------------------------------

def test_a_rep_sets_their_own_hours_and_alerts(client: TestClient, site: dict) -> None:
    key = site["key"]
    rid, _ = admin_and_rep(client, key)
    client.put(f"/v1/sites/{key}/reps/{rid}", json={"skills": {"kayaks": 4}}, headers=admin())
    client.cookies.clear()
    r = client.get("/console/profile", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/console/login")
    csrf = console_login(client, "ria@shop.example")
    page = client.get("/console/profile").text
    assert "kayaks (4/5)" in page and 'name="timezone"' in page and 'name="skills"' not in page

    own = {"timezone": "America/New_York", "hours_mon": "08:00-16:00", "days_off": "2025-07-04", "alerts": "1",
           "alert_email": "on", "email_after_s": "300"}
    assert client.post("/console/profile", data={**own, "csrf": "forged"}).status_code == 403
    r = client.post("/console/profile", data={**own, "csrf": csrf, "hours_mon": "16:00-16:00", "timezone": "EST5EDTX"})
    assert r.status_code == 400
    assert "starts and ends at the same time" in errors_beside(r.text, "hours_mon")
    assert "must be a time zone" in errors_beside(r.text, "timezone")

    r = client.post("/console/profile", data={**own, "csrf": csrf, "skills": "everything:5", "capacity": "20"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "Saved." in client.get(r.headers["location"]).text
    rep = client.get(f"/v1/sites/{key}/reps/{rid}", headers=admin()).json()
    assert rep["schedule"]["timezone"] == "America/New_York" and rep["schedule"]["hours"]["mon"] == ["08:00-16:00"]
    assert rep["alerts"] == {"channels": ["email"], "email_after_s": 300}
    assert (rep["skills"], rep["capacity"]) == ({"kayaks": 4}, 1)  # the admin's fields are not the rep's to set
