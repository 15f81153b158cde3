"""The camera component's Play protocol, in Chromium with its fake camera, without a server: the component's own
JavaScript, handed a stand-in for Streamlit's component object, so that the test says when answers come, or
never come.

One frame out, the next only once the page answers; a frame the page never heard of (its rerun replaced by
another) is sent again after a while, not waited on for ever (CI's camera stood still on frame 1).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from servers import camera_chromium

from workbench.dashboard.camera import HTML, JS

RESEND_MS = 800

PAGE = f"""<!doctype html><html><body><div id="host">{HTML}</div><script type="module">
import mount from '/camera.js';
window.sent = [];
const data = {{ mode: 'play', label: '', answered: 0, side: 64, every_ms: 50, resend_ms: {RESEND_MS},
               insecure: 'insecure', ready: 'ready' }};
const component = (answered) => ({{
  parentElement: document.getElementById('host'), data: {{ ...data, answered }},
  setTriggerValue: (name, value) => window.sent.push({{ name, number: value.number, at: performance.now(),
                                                       jpeg: value.image.startsWith('data:image/jpeg;base64,') }}),
}});
window.answer = (answered) => {{ mount(component(answered)); }};  // (no cleanup handed back to the test)
mount(component(0));
</script></body></html>"""


@pytest.fixture(scope="module")
def page():
    with camera_chromium() as browser:
        page = browser.new_page()
        page.route("http://localhost/", lambda route: route.fulfill(body=PAGE, content_type="text/html"))
        page.route("http://localhost/camera.js",
                   lambda route: route.fulfill(body=JS, content_type="text/javascript"))
        page.goto("http://localhost/")  # localhost: a secure context, where the camera may open
        page.wait_for_function("window.sent.length >= 1", timeout=30_000)
        yield page


def _sent(page) -> list[dict]:
    return page.evaluate("window.sent")


def _gaps(page, number: int) -> list[float]:
    """The milliseconds between one sending of frame ``number`` and the next."""
    times = [s["at"] for s in _sent(page) if s["number"] == number]
    return [b - a for a, b in zip(times, times[1:])]


def test_one_frame_goes_out_and_the_next_waits_for_its_answer(page):
    first = _sent(page)[0]
    assert first["name"] == "frame" and first["number"] == 1 and first["jpeg"]
    page.evaluate("window.answer(1)")
    page.wait_for_function("window.sent.some((s) => s.number === 2)", timeout=5_000)
    page.evaluate("window.answer(2)")
    page.wait_for_function("window.sent.some((s) => s.number === 3)", timeout=5_000)
    page.wait_for_timeout(RESEND_MS // 2)  # a frame every 50 ms if it did not wait; at most a resend, in time
    assert min(_gaps(page, 3), default=RESEND_MS) >= RESEND_MS * 0.9, _sent(page)


def test_a_frame_never_answered_is_sent_again_after_a_while_not_in_a_flood(page):
    last = _sent(page)[-1]["number"]  # never answered from here on: the page "lost" it
    try:
        page.wait_for_function(f"window.sent.filter((s) => s.number === {last}).length >= 2", timeout=10_000)
    except PlaywrightTimeout:
        pytest.fail(f"frame {last} was sent once and never again in 10 s: {[s['number'] for s in _sent(page)]}")
    assert min(_gaps(page, last)) >= RESEND_MS * 0.9, f"resent too soon: {_gaps(page, last)} ms apart"
    page.evaluate(f"window.answer({last})")  # an answer at last: the next frame follows
    page.wait_for_function(f"window.sent.some((s) => s.number === {last + 1})", timeout=5_000)
