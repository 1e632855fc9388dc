"""Accreditation tests over HTTP, on real Redis (single and cluster): an admin writes tests
through the site API with every error listed; a rep who passes is accredited at the test's
level and matching sees it at once (the accreditation rule's contribution, the accredited
filter letting them through); one who fails is refused until the retry wait is over; an
expired accreditation is filtered out at once; the console's pages let an admin write a test
and a rep take it. Time moves through the service's clock or the stored expiry, never by
sleeping."""

from __future__ import annotations

import dataclasses
import re
import time

from starlette.testclient import TestClient

from tests.helpers import admin, console_login, ingest, make_rep, presence, waiting_request

KAYAKS_TEST = {
    "subject": "Kayaks", "title": "Kayaks: the basics", "pass_mark": 60, "validity_days": 30,
    "retry_wait_hours": 12, "level": 4,
    "questions": [
        {"prompt": "Which kayak tracks best in open water?", "choices": ["A sit-on-top", "A sea kayak with a skeg"],
         "correct": 1},
        {"prompt": "What belongs in a safety kit?", "choices": ["Pump", "Paddle float", "Umbrella"],
         "correct": [0, 1]},
        {"prompt": "A spray deck keeps water out.", "choices": ["True", "False"], "correct": 0},
    ],
}
RIGHT, WRONG = [1, [0, 1], 0], [0, [2], 1]
MATCHING = {
    "pages": [{"pattern": "/kayaks*", "category": "boats", "product": "Kayaks"}],
    "rule_sets": [{"name": "Kayaks", "when": {"products": ["kayaks"]},
                   "filters": {"accredited": True, "on_schedule": False},
                   "rules": {"accreditation": {"weight": 1}, "capacity": {"weight": 0.5}},
                   "dispatch": {"mode": "all"}}],
}
PAGE = [{"t": "pv", "url": "https://shop.example/kayaks/sea-touring", "title": "Sea kayaks"}]


def create_test(client: TestClient, key: str, body: dict = KAYAKS_TEST) -> str:
    r = client.post(f"/v1/sites/{key}/accreditation-tests", json=body, headers=admin())
    assert r.status_code == 201, r.text
    return r.json()["id"]


def take(client: TestClient, key: str, rid: str, tid: str, answers: object):
    return client.post(f"/v1/sites/{key}/reps/{rid}/accreditation-tests/{tid}/attempts", json={"answers": answers},
                       headers=admin())


def match(client: TestClient, key: str, vid: str) -> dict:
    r = client.get(f"/v1/sites/{key}/visitors/{vid}/match", headers=admin())
    assert r.status_code == 200, r.text
    return r.json()


def test_tests_are_written_with_every_error_listed_and_nothing_stored_on_a_bad_write(client: TestClient,
                                                                                      site: dict) -> None:
    key = site["key"]
    url = f"/v1/sites/{key}/accreditation-tests"
    bad = {"subject": "", "title": "T", "pass_mark": 101, "questions": [
        {"prompt": "Q?", "choices": ["only one"], "correct": 0}, {"prompt": "Q?", "choices": ["a", "b"], "correct": 2}]}
    r = client.post(url, json=bad, headers=admin())
    assert r.status_code == 400
    assert [e["field"] for e in r.json()["errors"]] == [
        "subject", "pass_mark", "questions[0].choices", "questions[1].correct"]
    assert client.get(url, headers=admin()).json() == {"tests": []}
    assert client.post(url, content=b"[" * 5000, headers=admin()).status_code == 400
    assert client.post(url, content=b"{" + b" " * 300_000 + b"}", headers=admin()).status_code == 413

    tid = create_test(client, key)
    stored = client.get(f"{url}/{tid}", headers=admin()).json()
    assert stored["subject"] == "kayaks" and stored["questions"][1]["correct"] == [0, 1]  # the admin sees answers
    r = client.put(f"{url}/{tid}", json={**KAYAKS_TEST, "level": 9}, headers=admin())
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["level"]
    r = client.put(f"{url}/{tid}", json={**KAYAKS_TEST, "title": "Kayaks, revised"}, headers=admin())
    assert r.status_code == 200 and r.json()["title"] == "Kayaks, revised"
    assert [t["title"] for t in client.get(url, headers=admin()).json()["tests"]] == ["Kayaks, revised"]

    other = client.post("/v1/sites", json={"name": "Other", "origins": ["https://other.example"]},
                        headers=admin()).json()["key"]
    other_key = client.post(f"/v1/sites/{other}/api-keys", json={"label": "theirs"}, headers=admin()).json()["key"]
    assert client.get(f"{url}/{tid}", headers=admin(other_key)).status_code == 404  # another site sees nothing
    assert client.delete(f"{url}/{tid}", headers=admin(other_key)).status_code == 404
    assert client.delete(f"{url}/{tid}", headers=admin()).json() == {"deleted": True}
    assert client.get(f"{url}/{tid}", headers=admin()).status_code == 404


def test_a_pass_accredits_at_the_tests_level_and_matching_sees_it_until_it_expires(client: TestClient,
                                                                                   site: dict) -> None:
    key = site["key"]
    amelie = make_rep(client, key, email="amelie@shop.example", name="Amélie", capacity=2)
    bob = make_rep(client, key, email="bob@shop.example", name="Bob", capacity=2)
    for rid in (amelie, bob):
        presence(client, key, rid, "available")
    client.put(f"/v1/sites/{key}/matching", json=MATCHING, headers=admin()).raise_for_status()
    ingest(client, key, "visitor-kayak1", PAGE)
    tid = create_test(client, key)
    before = match(client, key, "visitor-kayak1")
    assert before["ranked"] == [] and {f["name"] for f in before["filtered"]} == {"Amélie", "Bob"}

    r = take(client, key, amelie, tid, RIGHT)
    assert r.status_code == 200, r.text
    result = r.json()
    assert (result["passed"], result["score"], result["level"], result["retry_at"]) == (True, 100.0, 4, None)
    assert result["accreditation"]["subject"] == "kayaks" and result["accreditation"]["current"]
    held = client.get(f"/v1/sites/{key}/reps/{amelie}/accreditations", headers=admin()).json()["accreditations"]
    assert [(a["subject"], a["level"], a["current"]) for a in held] == [("kayaks", 4, True)]
    assert 29 * 86400_000 < held[0]["expires"] - time.time() * 1000 <= 30 * 86400_000

    found = match(client, key, "visitor-kayak1")
    assert [x["name"] for x in found["ranked"]] == ["Amélie"]  # the accredited filter lets her through
    parts = {c["rule"]: c for c in found["ranked"][0]["contributions"]}
    assert parts["accreditation"]["score"] == 0.8 and parts["accreditation"]["contribution"] == 0.8  # level 4 / 5
    assert [(f["name"], [r["filter"] for r in f["reasons"]]) for f in found["filtered"]] == [("Bob", ["accredited"])]

    # The accreditation expires: matching drops her at once.
    service = client.app.state.services.accreditations
    mine = client.portal.call(service.get, key, amelie, "kayaks")
    client.portal.call(service.store, key, amelie, dataclasses.replace(mine, expires_ms=int(time.time() * 1000) - 1))
    found = match(client, key, "visitor-kayak1")
    assert found["ranked"] == []
    assert {f["name"]: [r["filter"] for r in f["reasons"]] for f in found["filtered"]}["Amélie"] == ["accredited"]
    held = client.get(f"/v1/sites/{key}/reps/{amelie}/accreditations", headers=admin()).json()["accreditations"]
    assert [(a["subject"], a["current"]) for a in held] == [("kayaks", False)]  # listed, as expired

    # An admin's grant and revoke take effect at once too.
    r = client.post(f"/v1/sites/{key}/reps/{bob}/accreditations", json={"subject": "Kayaks", "level": 2,
                                                                        "valid_days": 7}, headers=admin())
    assert r.status_code == 201, r.text
    assert [x["name"] for x in match(client, key, "visitor-kayak1")["ranked"]] == ["Bob"]
    assert client.delete(f"/v1/sites/{key}/reps/{bob}/accreditations/Kayaks", headers=admin()).status_code == 200
    assert match(client, key, "visitor-kayak1")["ranked"] == []
    r = client.post(f"/v1/sites/{key}/reps/{bob}/accreditations", json={"level": 6}, headers=admin())
    assert r.status_code == 400 and [e["field"] for e in r.json()["errors"]] == ["subject", "level"]


def test_a_fail_is_refused_a_retry_until_the_wait_is_over(client: TestClient, site: dict) -> None:
    key = site["key"]
    ria = make_rep(client, key, email="ria@shop.example")
    tid = create_test(client, key)

    r = take(client, key, ria, tid, [1, [0, 1, 7], "True"])  # answers that do not fit cost no attempt
    assert r.status_code == 400
    assert [(e["field"], e["message"]) for e in r.json()["errors"]] == [
        ("answers[1]", "must be the index (0-2) of a choice, or a list of them"),
        ("answers[2]", "must be the index (0-1) of a choice")]
    assert take(client, key, ria, tid, [1, 0]).status_code == 400
    assert take(client, key, ria, tid, {"1": 1}).status_code == 400

    r = take(client, key, ria, tid, WRONG)
    assert r.status_code == 200
    failed = r.json()
    assert (failed["passed"], failed["score"], failed["level"], failed["accreditation"]) == (False, 0.0, 0, None)
    assert failed["retry_at"] - time.time() * 1000 > 11.9 * 3600_000

    r = take(client, key, ria, tid, RIGHT)  # the right answers, too soon
    assert r.status_code == 429 and r.json()["retry_at"] == failed["retry_at"]
    assert 11.9 * 3600 < int(r.headers["retry-after"]) <= 12 * 3600
    assert client.get(f"/v1/sites/{key}/reps/{ria}/accreditations", headers=admin()).json() == {"accreditations": []}

    service = client.app.state.services.accreditations
    service.clock = lambda: failed["retry_at"] / 1000 - 1  # a second before the wait is over
    assert take(client, key, ria, tid, RIGHT).status_code == 429
    service.clock = lambda: failed["retry_at"] / 1000  # the wait is over
    r = take(client, key, ria, tid, RIGHT)
    assert r.status_code == 200 and r.json()["passed"] and r.json()["level"] == 4
    assert take(client, key, ria, tid, RIGHT).status_code == 200  # after a pass, no wait (a renewal)
    assert take(client, key, "nobody-here", tid, RIGHT).status_code == 404
    assert take(client, key, ria, "no-such-test", RIGHT).status_code == 404


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_an_admin_writes_a_test_in_the_console_and_a_rep_takes_it_there(client: TestClient, site: dict) -> None:
    key = site["key"]
    make_rep(client, key, email="boss@shop.example", name="Boss", role="admin")
    ria = make_rep(client, key, email="ria@shop.example", name="Ria")
    console_login(client, "boss@shop.example")
    page = client.get("/console/admin/accreditation-tests/new")
    assert page.status_code == 200 and 'href="/console/admin/accreditation-tests"' in page.text
    form = {"csrf": csrf_of(page.text), "title": "Kayaks <b>basics</b>", "subject": "Kayaks", "pass_mark": "sixty",
            "level": "3", "validity_days": "30", "retry_wait_hours": "2",
            "questions": "Which kayak tracks best?\n- A sit-on-top\n* A sea kayak\n\n* Pump\n- Umbrella"}
    r = client.post("/console/admin/accreditation-tests", data=form, follow_redirects=False)
    assert r.status_code == 400
    assert "pass_mark-errors" in r.text and "must be a number from 1 to 100" in r.text
    assert "question 2: write the question before its choices" in r.text
    assert "Kayaks &lt;b&gt;basics&lt;/b&gt;" in r.text  # what was typed comes back, escaped
    form.update(pass_mark="60", questions="Which kayak tracks best?\n- A sit-on-top\n* A sea kayak\n\n"
                                          "What belongs in a safety kit?\n* Pump\n* Paddle float\n- Umbrella")
    r = client.post("/console/admin/accreditation-tests", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    listed = client.get("/console/admin/accreditation-tests").text
    tid = re.search(r'<tr id="test-([^"]+)">', listed).group(1)
    assert "Kayaks &lt;b&gt;basics&lt;/b&gt;" in listed and "<b>basics" not in listed

    console_login(client, "ria@shop.example")
    home = client.get("/console/accreditations").text
    assert 'href="/console/accreditations"' in home and "No accreditations yet." in home
    assert f'href="/console/accreditations/{tid}"' in home
    assert client.get("/console/admin/accreditation-tests").status_code == 403  # a rep writes no tests
    take_page = client.get(f"/console/accreditations/{tid}").text
    assert 'type="radio" name="q0" value="1"' in take_page and 'type="checkbox" name="q1" value="2"' in take_page
    assert "Paddle float" in take_page and "* " not in take_page  # the answers stay on the server

    r = client.post(f"/console/accreditations/{tid}", data={"csrf": csrf_of(take_page), "q1": "0"})
    assert r.status_code == 400 and "question 1 has no answer" in r.text  # a slip costs no attempt
    r = client.post(f"/console/accreditations/{tid}", data={"csrf": "forged", "q0": "1", "q1": ["0", "1"]})
    assert r.status_code == 403
    r = client.post(f"/console/accreditations/{tid}", data={"csrf": csrf_of(take_page), "q0": "0", "q1": "0"})
    assert r.status_code == 200 and "Not passed: 0.0%" in r.text and "You may try again from" in r.text
    assert client.get(f"/console/accreditations/{tid}").status_code == 429
    assert "retry from" in client.get("/console/accreditations").text

    client.app.state.services.accreditations.clock = lambda: time.time() + 2 * 3600
    r = client.post(f"/console/accreditations/{tid}",
                    data={"csrf": csrf_of(take_page), "q0": "1", "q1": ["0", "1"]})
    assert r.status_code == 200 and "Passed: 100.0%" in r.text
    assert "You are accredited for kayaks at level 3 until" in r.text
    home = client.get("/console/accreditations").text
    held = re.search(r'<tr id="held-1">(.*?)</tr>', home, re.S).group(1)
    assert "kayaks" in held and "3 of 5" in held and "current" in held and " UTC" in held
    assert client.get(f"/v1/sites/{key}/reps/{ria}/accreditations",
                      headers=admin()).json()["accreditations"][0]["level"] == 3


def test_a_new_request_goes_only_to_reps_accredited_now(client: TestClient, site: dict) -> None:
    """dispatch.lua reads the reps' accreditations itself, and skips expired ones at once."""
    key = site["key"]
    amelie = make_rep(client, key, email="amelie@shop.example", name="Amélie", capacity=2)
    bob = make_rep(client, key, email="bob@shop.example", name="Bob", capacity=2)
    for rid in (amelie, bob):
        presence(client, key, rid, "available")
    quotes = {**MATCHING, "pages": [{"pattern": "/quote*", "category": "boats", "product": "kayaks"}]}
    client.put(f"/v1/sites/{key}/matching", json=quotes, headers=admin()).raise_for_status()
    tid = create_test(client, key)
    assert take(client, key, amelie, tid, RIGHT).json()["passed"]
    service = client.app.state.services

    cid = waiting_request(client, key, "visitor-0001")
    targets = {c.id: c.targets for c in client.portal.call(service.chats.waiting, key)}
    assert targets[cid] == (amelie,)  # Bob is not accredited for kayaks

    mine = client.portal.call(service.accreditations.get, key, amelie, "kayaks")
    client.portal.call(service.accreditations.store, key, amelie,
                       dataclasses.replace(mine, expires_ms=int(time.time() * 1000) - 1))
    client.portal.call(service.routing.rep_arrived, key)  # ranked again, as when anyone comes online
    targets = {c.id: c.targets for c in client.portal.call(service.chats.waiting, key)}
    assert targets[cid] == ()  # nobody accredited now: the request waits for someone who is


def test_two_attempts_submitted_at_once_are_graded_one_at_a_time(client: TestClient, site: dict) -> None:
    """The retry-wait check and the attempt's record are a read then a write: a rep who sends
    the same test twice at once (two tabs, a double click) gets one graded, the other refused."""
    import asyncio

    from backend.domain.accreditations import RetryWait

    key = site["key"]
    ria = make_rep(client, key, email="ria@shop.example")
    tid = create_test(client, key)
    service = client.app.state.services.accreditations

    async def both() -> list[object]:
        return await asyncio.gather(service.submit(key, ria, tid, WRONG), service.submit(key, ria, tid, RIGHT),
                                    return_exceptions=True)

    outcomes = client.portal.call(both)
    assert sum(isinstance(o, RetryWait) for o in outcomes) == 1, outcomes
    [graded] = [o for o in outcomes if not isinstance(o, RetryWait)]
    # whichever was graded, the other was not: one attempt, and no pass sneaking past a fail
    last = client.portal.call(service.last_attempts, key, ria)[tid]
    assert last.passed == graded.grade.passed  # type: ignore[union-attr]
