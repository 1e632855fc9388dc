"""Mail jobs on a bad day, with the real job worker and real SMTP servers: what customers
type cannot break a mail, mail that cannot be sent is kept for the site's admin to send
again, and a job whose worker was killed is retried within its backoff."""

from __future__ import annotations

import dataclasses
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from backend.app import create_app
from backend.testing.servers import free_port
from tests.helpers import (NEEDY, ORIGIN, Smtp, admin, console_login, ingest, kill_worker, make_rep, offered,
                           respond, run_worker, start_worker)

SALES = "sales@shop.example"


def leave_a_message(client: TestClient, key: str, vid: str, name: str = "Ann",
                    message: str = "Call me") -> None:
    """A visitor nobody can answer leaves a message for the site's sales inbox."""
    ingest(client, key, vid, NEEDY)
    answer = offered(client, key, vid)
    assert answer["cmd"]["kind"] == "message"
    r = respond(client, key, vid, answer["tok"], answer["cmd"]["id"], "message", name=name,
                email="ann@example.com", message=message)
    assert r.status_code == 200, r.text


def new_site(client: TestClient, name: str = "Shop") -> str:
    r = client.post("/v1/sites", json={"name": name, "origins": [ORIGIN]}, headers=admin())
    assert r.status_code == 201, r.text
    key = r.json()["key"]
    r = client.put(f"/v1/sites/{key}/offer-settings", json={"leave_message": True, "sales_email": SALES},
                   headers=admin())
    assert r.status_code == 200, r.text
    return key


def test_names_with_any_kind_of_line_break_are_mailed(client: TestClient, smtp: Smtp, settings) -> None:
    """A name with \\x0b or \\u2028 made the mail job raise on every retry: the message was lost."""
    key = new_site(client)
    leave_a_message(client, key, "visitor-0001", name="Ann\x0bBob\u2028Carl\x85Dee\u2029Eve")
    run_worker(settings, smtp)
    msg = smtp.wait_for_message()
    assert msg["Subject"] == "Message from Ann Bob Carl Dee Eve on Shop"
    assert "Call me" in msg.get_body(("plain",)).get_content()


@pytest.fixture()
def impatient(settings, redis_client) -> Iterator[TestClient]:
    """The app, with mail retried twice at once rather than over 13 minutes."""
    with TestClient(create_app(dataclasses.replace(settings, mail_retry_s=(0, 0))),
                    base_url="http://beckon.test") as c:
        yield c


def test_mail_that_cannot_be_sent_waits_for_the_admin_to_send_it_again(impatient: TestClient, smtp: Smtp,
                                                                       settings) -> None:
    client = impatient
    key = new_site(client)
    make_rep(client, key, email="owner@shop.example", role="admin")
    other = new_site(client, "Other shop")
    make_rep(client, other, email="owner@other.example", role="admin")
    leave_a_message(client, key, "visitor-0001", message="Please call me about the kayak")

    run_worker(settings, free_port())  # no mail server there: every try fails
    csrf = console_login(client, "owner@shop.example")
    page = client.get("/console/admin/mail")
    assert page.status_code == 200
    assert SALES in page.text and "Message from Ann on Shop" in page.text
    letter = page.text.split('id="letter-', 1)[1].split('"', 1)[0]

    other_csrf = console_login(client, "owner@other.example")  # another site's admin sees none of it
    assert SALES not in client.get("/console/admin/mail").text
    r = client.post(f"/console/admin/mail/{letter}/resend", data={"csrf": other_csrf}, follow_redirects=False)
    assert r.status_code == 404

    csrf = console_login(client, "owner@shop.example")
    r = client.post(f"/console/admin/mail/{letter}/resend", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "All mail was delivered" in client.get("/console/admin/mail").text
    run_worker(settings, smtp)  # the mail server is back
    msg = smtp.wait_for_message()
    assert msg["To"] == SALES
    assert "Please call me about the kayak" in msg.get_body(("plain",)).get_content()


def test_the_admin_page_of_undelivered_mail_is_for_the_sites_admins(impatient: TestClient) -> None:
    key = new_site(impatient)
    make_rep(impatient, key, email="ria@shop.example")
    assert impatient.get("/console/admin/mail", follow_redirects=False).status_code == 303  # to the login
    console_login(impatient, "ria@shop.example")
    assert impatient.get("/console/admin/mail").status_code == 403


def test_a_job_whose_worker_was_killed_is_retried_within_its_backoff(client: TestClient, settings) -> None:
    """The worker sending a mail is killed (with its scheduler); another takes over. The retry
    once waited 12 minutes for rq's maintenance; its backoff is 5 s."""
    smtp = Smtp(stall_first=True)
    key = new_site(client)
    leave_a_message(client, key, "visitor-0001", message="Sent while the worker died")
    first = start_worker(settings, smtp)
    second = None
    try:
        assert smtp.stalled.wait(30), "the worker never started sending"
        kill_worker(first)
        smtp.released.set()
        second = start_worker(settings, smtp)
        msg = smtp.wait_for_message(timeout=60)  # the heartbeat's expiry, maintenance, backoff: well under
        assert "Sent while the worker died" in msg.get_body(("plain",)).get_content()
    finally:
        kill_worker(first)
        if second is not None:
            kill_worker(second)
        smtp.stop()
