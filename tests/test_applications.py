"""Joining as a representative, over HTTP on real Redis (single and cluster): the public join
form with every error beside its field; a pending or rejected applicant neither logs in nor
appears anywhere a customer's request goes; an admin records the background check and
approves (one rep, however often Approve is pressed) or rejects with a note; the decision
reaches the applicant through the real job worker and a real SMTP server; another site's
admin sees and decides nothing."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from starlette.testclient import TestClient

from tests.helpers import PASSWORD, Smtp, admin, console_login, ingest, make_rep, presence, run_worker

OWNER = "owner@shop.example"
JOINER = "jo@example.com"
GOOD = {"name": "Jo <b>Doe</b>", "email": JOINER, "password": "a fine long password", "languages": "fr, en",
        "products": "kayaks", "areas": "75, 69", "timezone": "Europe/Paris", "hours_mon": "09:00-17:00",
        "days_off": "", "alerts": "1", "alert_email": "on", "email_after_s": ""}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def join(client: TestClient, key: str, **fields: str):
    """Fill in the join form as a visitor of the page would (a fresh session each time)."""
    client.cookies.clear()
    page = client.get(f"/console/join/{key}")
    assert page.status_code == 200, page.text
    return client.post(f"/console/join/{key}", data={"csrf": csrf_of(page.text), **GOOD, **fields},
                       follow_redirects=False)


def application_id(client: TestClient, email: str = JOINER) -> str:
    listed = client.get("/console/admin/applications?status=all").text
    row = re.search(r'<tr id="application-([^"]+)">\s*<td><a [^>]*>[^<]*</a></td>\s*<td>' + re.escape(email), listed)
    assert row, listed
    return row.group(1)


def decide(client: TestClient, csrf: str, aid: str, decision: str, note: str = ""):
    return client.post(f"/console/admin/applications/{aid}/decide",
                       data={"csrf": csrf, "decision": decision, "note": note}, follow_redirects=False)


def can_log_in(client: TestClient, email: str, password: str) -> bool:
    client.cookies.clear()
    form = client.get("/console/login").text
    r = client.post("/console/login", data={"csrf": csrf_of(form), "email": email, "password": password},
                    follow_redirects=False)
    return r.status_code == 303


def mail_to(smtp: Smtp, to: str):
    """The next message to ``to`` (others, such as the admins' notice, are passed over)."""
    while True:
        mail = smtp.wait_for_message()
        if mail["To"] == to:
            return mail


def a_site(client: TestClient, name: str = "Shop", owner: str = OWNER) -> str:
    key = client.post("/v1/sites", json={"name": name, "origins": ["https://shop.example"]},
                      headers=admin()).json()["key"]
    make_rep(client, key, email=owner, name="Owner", role="admin")
    return key


def test_the_join_form_shows_each_error_beside_its_field_then_thanks(client: TestClient) -> None:
    key = a_site(client)
    r = join(client, key, email="not an address", password="short", timezone="Mars/Olympus", hours_mon="9-5")
    assert r.status_code == 400
    for field in ("email", "password", "timezone", "hours_mon"):
        assert f'id="{field}-errors"' in r.text, field
    assert "Jo &lt;b&gt;Doe&lt;/b&gt;" in r.text and "<b>Doe" not in r.text  # kept, escaped
    assert 'value="not an address"' in r.text and "short" not in r.text  # a password is never shown again
    assert "Thank you" not in r.text

    r = join(client, key)
    assert r.status_code == 200 and 'id="join-done"' in r.text
    console_login(client, OWNER)
    pending = client.get("/console/admin/applications").text
    assert JOINER in pending and "Jo &lt;b&gt;Doe&lt;/b&gt;" in pending
    detail = client.get(f"/console/admin/applications/{application_id(client)}").text
    assert "fr, en" in detail and "kayaks" in detail and "Europe/Paris" in detail
    assert client.get("/console/join/nosuchsite0").status_code == 404


def test_a_known_address_gets_the_same_thanks_and_nothing_is_stored(client: TestClient) -> None:
    key = a_site(client)
    make_rep(client, key, email="ria@shop.example")
    assert 'id="join-done"' in join(client, key, email="ria@shop.example").text
    assert 'id="join-done"' in join(client, key).text
    assert 'id="join-done"' in join(client, key, name="Someone else").text  # applied already
    console_login(client, OWNER)
    listed = client.get("/console/admin/applications?status=all").text
    assert listed.count(JOINER) == 1 and "ria@shop.example" not in listed
    assert 'id="join-done"' in join(client, key, website="http://spam.example", email="bot@example.com").text
    console_login(client, OWNER)
    assert "bot@example.com" not in client.get("/console/admin/applications?status=all").text


def test_the_join_form_is_throttled_per_address(client: TestClient) -> None:
    key = a_site(client)
    answers = [join(client, key, email=f"jo{i}@example.com").status_code for i in range(12)]
    assert answers[:10] == [200] * 10 and answers[10:] == [429, 429]
    assert "Too many applications" in join(client, key, email="late@example.com").text


def test_a_pending_applicant_neither_logs_in_nor_reaches_customers(client: TestClient) -> None:
    key = a_site(client)
    ria = make_rep(client, key, email="ria@shop.example", name="Ria")
    presence(client, key, ria, "available")
    join(client, key)
    assert not can_log_in(client, JOINER, GOOD["password"])
    reps = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    assert JOINER not in {r["email"] for r in reps}
    ingest(client, key, "visitor-0001")
    found = client.get(f"/v1/sites/{key}/visitors/visitor-0001/match", headers=admin()).json()
    named = {x["name"] for x in found["ranked"]} | {x["name"] for x in found["filtered"]}
    assert "Ria" in named and not any("Jo" in n for n in named)
    console_login(client, OWNER)
    assert JOINER not in client.get("/console/admin/reps").text


def test_approval_with_a_background_check_makes_exactly_one_rep(client: TestClient, smtp: Smtp, settings) -> None:
    key = a_site(client)
    join(client, key)
    csrf = console_login(client, OWNER)
    aid = application_id(client)
    check = f"/console/admin/applications/{aid}/check"
    r = client.post(check, data={"csrf": csrf, "check_status": "done", "check_date": "2026-02-30",
                                 "check_note": ""}, follow_redirects=False)
    assert r.status_code == 400 and 'id="check_status-errors"' in r.text and 'id="check_date-errors"' in r.text
    r = client.post(check, data={"csrf": csrf, "check_status": "passed", "check_date": "2025-11-02",
                                 "check_note": "References called"}, follow_redirects=False)
    assert r.status_code == 303

    with ThreadPoolExecutor(4) as pool:  # Approve, pressed four times at once
        answers = list(pool.map(lambda _: decide(client, csrf, aid, "approve", "Welcome aboard").status_code,
                                range(4)))
    assert sorted(answers)[0] == 303 and answers.count(303) == 1, answers
    reps = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    joined = [r for r in reps if r["email"] == JOINER]
    assert len(joined) == 1 and joined[0]["active"] and joined[0]["languages"] == ["fr", "en"]
    detail = client.get(f"/console/admin/applications/{aid}").text
    assert "approved" in detail and "References called" in detail and 'id="decide-form"' not in detail
    r = decide(client, csrf, aid, "reject", "changed my mind")
    assert r.status_code == 409 and 'id="decision-errors"' in r.text

    run_worker(settings, smtp)
    mail = mail_to(smtp, JOINER)
    assert mail["Subject"] == "Your application to Shop: approved"
    text = mail.get_body(("plain",)).get_content()
    assert "Welcome aboard" in text and "/console/login" in text
    assert can_log_in(client, JOINER, GOOD["password"])


def test_rejection_needs_a_note_which_the_applicant_gets_by_mail(client: TestClient, smtp: Smtp, settings) -> None:
    key = a_site(client)
    join(client, key)
    csrf = console_login(client, OWNER)
    aid = application_id(client)
    r = decide(client, csrf, aid, "reject", "   ")
    assert r.status_code == 400 and 'id="note-errors"' in r.text
    assert decide(client, csrf, aid, "reject", "We need <French> speakers\nin Lyon").status_code == 303
    listed = client.get("/console/admin/applications?status=rejected").text
    assert JOINER in listed and JOINER not in client.get("/console/admin/applications").text

    run_worker(settings, smtp)
    mail = mail_to(smtp, JOINER)
    assert mail["Subject"] == "Your application to Shop: not approved"
    assert "We need <French> speakers\nin Lyon" in mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert "We need &lt;French&gt; speakers" in mail.get_body(("html",)).get_content()
    assert not can_log_in(client, JOINER, GOOD["password"])
    reps = client.get(f"/v1/sites/{key}/reps", headers=admin()).json()["reps"]
    assert JOINER not in {r["email"] for r in reps}


def test_the_site_s_admins_hear_that_an_application_waits(client: TestClient, smtp: Smtp, settings) -> None:
    key = a_site(client)
    join(client, key)
    run_worker(settings, smtp)
    mail = smtp.wait_for_message()
    assert mail["To"] == OWNER and mail["Subject"] == "A representative's application waits on Shop"
    assert "/console/admin/applications/" in mail.get_body(("plain",)).get_content()


def test_another_site_s_admin_neither_sees_nor_decides_the_application(client: TestClient) -> None:
    key = a_site(client)
    a_site(client, "Other shop", owner="owner@other.example")
    join(client, key)
    console_login(client, OWNER)
    aid = application_id(client)

    csrf = console_login(client, "owner@other.example")
    assert JOINER not in client.get("/console/admin/applications?status=all").text
    assert client.get(f"/console/admin/applications/{aid}").status_code == 404
    assert decide(client, csrf, aid, "approve").status_code == 404
    r = client.post(f"/console/admin/applications/{aid}/check", data={"csrf": csrf, "check_status": "failed",
                                                                       "check_date": "", "check_note": ""})
    assert r.status_code == 404

    console_login(client, OWNER)
    detail = client.get(f"/console/admin/applications/{aid}").text
    assert 'id="application-status">pending' in detail and "failed" not in detail.split('id="check-form"')[0]
    assert not can_log_in(client, JOINER, PASSWORD)
