"""Real Chromium, real Redis, two web workers: HELP appears only when someone can answer,
disappears when ignored, one slot gives one offer, every variant renders and closes."""

from __future__ import annotations

import pytest

from tests.helpers import OFFER, VIP, Live, flagged_page, let_the_ticker_run, poll, presence, setup_site

pytestmark = pytest.mark.browser


def test_help_appears_only_when_a_representative_is_available_and_goes_when_ignored(
        live2: Live, browser, page_errors) -> None:
    rid = setup_site(live2, variant="panel", response_timeout_s=4, timeout_min_s=3, cooldown_s=300)
    context, page, errors = flagged_page(live2, browser, page_errors)
    # the page holds a live connection (it is worth watching) before any offer
    assert poll(lambda: page.evaluate("!!(Beckon._socket && Beckon._socket() && Beckon._socket().readyState === 1)"))
    let_the_ticker_run(live2.tick_s, passes=2)
    assert page.locator(OFFER).count() == 0  # nobody on duty: nothing shown
    presence(live2.api, live2.key, rid, "available")
    page.wait_for_selector(f"{OFFER} .bk-card", timeout=3000)
    assert page.locator(f"{OFFER} h2").inner_text() == "Can we help?"
    # left alone, it is withdrawn after the response time
    page.wait_for_selector(OFFER, state="detached", timeout=8000)
    assert errors == []
    context.close()


@pytest.mark.cluster_too
def test_two_flagged_visitors_and_one_free_slot_get_exactly_one_offer(live2: Live, browser, page_errors) -> None:
    rid = setup_site(live2, acceptable_wait_s=0)
    a = flagged_page(live2, browser, page_errors, VIP)
    b = flagged_page(live2, browser, page_errors, "vip2@example.com")
    presence(live2.api, live2.key, rid, "available")
    assert poll(lambda: a[1].locator(OFFER).count() + b[1].locator(OFFER).count() >= 1, 5)
    let_the_ticker_run(live2.tick_s, passes=3)  # and no second offer
    assert a[1].locator(OFFER).count() + b[1].locator(OFFER).count() == 1
    for ctx, _, errors in (a, b):
        assert errors == []
        ctx.close()


@pytest.mark.parametrize("variant", ["button", "panel", "audio", "video"])
def test_each_variant_renders_isolated_from_host_css_and_can_be_dismissed(
        live: Live, browser, page_errors, variant: str) -> None:
    rid = setup_site(live, variant=variant, audio_url="/static/none.mp3", video_url="/static/none.mp4")
    presence(live.api, live.key, rid, "available")
    context, page, errors = flagged_page(live, browser, page_errors)
    page.wait_for_selector(f"{OFFER} [data-beckon-action=accept]", timeout=5000)
    if variant == "audio":
        assert page.locator(f"{OFFER} audio").count() == 1
        assert page.evaluate("document.querySelector('[data-beckon=offer]').shadowRoot.querySelector('audio').autoplay") is False
    if variant == "video":
        muted = page.evaluate("document.querySelector('[data-beckon=offer]').shadowRoot.querySelector('video').muted")
        assert muted is True
    # the shop styles every button in Comic Sans; ours must not inherit that
    font = page.evaluate(
        "getComputedStyle(document.querySelector('[data-beckon=offer]').shadowRoot"
        ".querySelector('[data-beckon-action=accept]')).fontFamily")
    assert "Comic" not in font
    # no layout shift: the offer is fixed, the page's own layout is untouched
    assert page.evaluate("getComputedStyle(document.querySelector('[data-beckon=offer]').shadowRoot"
                         ".querySelector('.bk-root')).position") == "fixed"
    # keyboard: tab to the close button and press Enter
    page.locator(f"{OFFER} .bk-close").focus()
    page.keyboard.press("Enter")
    page.wait_for_selector(OFFER, state="detached", timeout=3000)
    uncaught = [e for e in errors if "none.mp" not in e and "Failed to load resource" not in e]
    assert uncaught == []
    context.close()


def test_clicking_help_creates_a_chat_request(live: Live, browser, page_errors) -> None:
    rid = setup_site(live, variant="panel")
    presence(live.api, live.key, rid, "available")
    context, page, errors = flagged_page(live, browser, page_errors)
    page.click(f"{OFFER} [data-beckon-action=accept]")
    page.wait_for_selector(f"{OFFER} [role=status]")
    reqs = live.api.get(f"/v1/sites/{live.key}/requests").json()["requests"]
    assert [r["visitor"] for r in reqs] == [page.evaluate("Beckon.vid")]
    assert errors == []
    context.close()
