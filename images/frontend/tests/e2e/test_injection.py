"""No markup from the URL or the ticker field: in a real browser, each kind of Markdown Streamlit renders is
put into every query parameter (and typed into the ticker field), and none of it may render.

Streamlit renders message bodies with extras beyond CommonMark (colour directives, LaTeX, icons), so only the
browser can show what a visitor would see; tests/test_text.py covers the CommonMark core exhaustively.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import pytest
from playwright.sync_api import Page, expect

TIMEOUT_MS = 30_000

# Every parameter a link may carry (stockui.state.ViewState's fields).
PARAMETERS = (
    "tickers",
    "period",
    "start",
    "end",
    "interval",
    "chart",
    "moving_averages",
    "log_scale",
    "compare",
)
# Port 9 (discard) on loopback: nothing answers, but the browser's request is what counts.
TRACKER = "http://127.0.0.1:9/track.png"
PAYLOADS = {
    "link": "[Session expired - sign in again](https://evil.example/login)",
    "autolink": "https://evil.example/login",
    "image": f"![x]({TRACKER})",
    "html": f'<b id="injected">bold</b><img src="{TRACKER}">',
    "colour": ":red[**SECURITY ALERT**]",
    "latex": "$\\frac{1}{2}$ and $$x^2$$",
    "icon": ":material/warning: :rotating_light:",
}

# What rendered markup leaves in the page. Text inside <code> is the literal we want, so it does not count.
RENDERED = r"""() => {
    const outside = el => !el.closest('code');
    const found = [];
    const all = selector => [...document.querySelectorAll(selector)];
    for (const a of all('a[href*="evil.example"]')) found.push('link ' + a.outerHTML);
    for (const img of all('img[src*="track.png"]')) found.push('image ' + img.outerHTML);
    if (document.getElementById('injected')) found.push('html #injected');
    for (const k of all('.katex, math')) found.push('latex ' + k.outerHTML.slice(0, 80));
    for (const el of document.querySelectorAll('strong, b, span[class*="colored"], [style*="color"]')) {
        if (outside(el) && /SECURITY ALERT|bold/.test(el.textContent)) found.push('styled ' + el.outerHTML);
    }
    // Our own icons sit outside the messages' text (the sidebar title, each message's icon).
    const messageText =
        ':is([data-testid="stToast"], [data-testid="stAlert"]) [data-testid="stMarkdownContainer"]';
    for (const el of document.querySelectorAll(messageText + ' [role="img"]')) {
        if (outside(el)) found.push('icon ' + el.outerHTML.slice(0, 80));
    }
    for (const el of document.querySelectorAll('[data-testid="stMarkdownContainer"]')) {
        const rendered = el.cloneNode(true);
        rendered.querySelectorAll('code').forEach(code => code.remove());
        const text = rendered.textContent;
        if (text.includes('\u{1F6A8}')) found.push('emoji ' + text.slice(0, 80));
    }
    return found;
}"""
SHOWN_AS_CODE = "text => [...document.querySelectorAll('code')].some(code => code.textContent.includes(text))"


def wait_until_idle(page: Page) -> None:
    """Until the script run has finished (Streamlit hides its running/stop widget)."""
    expect(page.get_by_test_id("stStatusWidget")).to_be_hidden(timeout=TIMEOUT_MS)


def messages(page: Page):
    return page.locator('[data-testid="stToast"], [data-testid="stAlert"]')


def assert_shown_as_text(page: Page, requests: list[str], payload: str) -> None:
    assert page.evaluate(RENDERED) == []
    # Only the page's own URL may carry the payload; nothing may be fetched from the payload's addresses.
    fetched = [urlsplit(url) for url in requests]
    assert [url for url in fetched if url.hostname == "evil.example" or url.path.endswith("track.png")] == []
    # The value is on the page as the characters it is (the ticker field upper-cases and splits).
    probe = payload.split()[0]
    assert page.evaluate(SHOWN_AS_CODE, probe) or page.evaluate(SHOWN_AS_CODE, probe.upper()), probe


@pytest.fixture
def page(module_page: Page):
    """One browser for the module (a fresh one per case costs more than the case); each case loads a page."""
    return module_page


@pytest.fixture
def requests(page: Page):
    """Every URL the browser asks for during one test."""
    urls: list[str] = []

    def record(request) -> None:
        urls.append(request.url)

    page.on("request", record)
    yield urls
    page.remove_listener("request", record)


@pytest.mark.parametrize("kind", PAYLOADS)
def test_markup_in_every_link_parameter_shows_as_text(page: Page, requests, frontend_url: str, kind: str):
    payload = PAYLOADS[kind]
    page.goto(f"{frontend_url}/?{urlencode(dict.fromkeys(PARAMETERS, payload))}")
    # The ticker field's error, then one toast per other parameter, each naming it.
    expect(page.get_by_test_id("stAlert").filter(has_text="Not a valid ticker symbol")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    for name in PARAMETERS[1:]:
        expect(page.get_by_test_id("stToast").filter(has_text=f"Ignored the link's {name}:")).to_be_visible()
    wait_until_idle(page)
    assert_shown_as_text(page, requests, payload)


@pytest.mark.parametrize("kind", ["link", "html", "colour", "latex"])
def test_markup_typed_into_the_ticker_field_shows_as_text(page: Page, requests, frontend_url: str, kind: str):
    page.goto(frontend_url)
    wait_until_idle(page)
    tickers = page.get_by_role("textbox", name="Tickers")
    tickers.fill(PAYLOADS[kind])
    tickers.press("Enter")
    expect(page.get_by_test_id("stAlert").filter(has_text="Not a valid ticker symbol")).to_be_visible(
        timeout=TIMEOUT_MS
    )
    wait_until_idle(page)
    assert_shown_as_text(page, requests, PAYLOADS[kind])
    assert messages(page).count() >= 1
