"""An XSS corpus planted in the simulator's messages (subjects, display names, header values,
attachment names and HTML bodies): rendering the results and the message pages in headless
Chromium opens no dialog and runs no injected script, and the body shows only in the sandboxed frame."""

from urllib.parse import urlencode

import pytest

from mimecast_simulator import render
from mimecast_simulator.data import Attachment
from tests.browser.pages import sign_in
from tests.browser.xss_checks import FRAME_INJECTED, INJECTED
from tests.browser.xss_vectors import xss_vectors
from tests.factories import UserFactory

REASON = "XSS corpus check for the workspace"
SLOTS = 6  # subject, display name, recipient name, attachment name, Reply-To header, HTML body


@pytest.fixture
def planted(mimecast_env, monkeypatch):
    """Put the corpus into the phishing campaign's messages; restore the simulator afterwards."""
    state = mimecast_env.state
    vectors = xss_vectors()
    messages = [state.message_by_id[i] for i in state.story["phishing_message_ids"]]
    count = -(-len(vectors) // SLOTS)
    assert count <= len(messages)
    bodies = {}
    for k, message in enumerate(messages[:count]):
        v = [vectors[(k * SLOTS + j) % len(vectors)] for j in range(SLOTS)]
        message.subject = v[0]
        message.from_name = v[1]
        message.to = [(v[2], message.to[0][1])]
        key = f"xss{k}"
        state.attachments[key] = Attachment(key, v[3], "txt", "text/plain", f"xss {k}".encode(), "", "text")
        message.attachments = [key]
        message.reply_to = v[4]
        bodies[message.id] = f"<p>XSS-BODY-MARKER-{k}</p>{v[5]}<p>{v[0]}</p>"
    original = render.html_body
    monkeypatch.setattr(render, "html_body", lambda m, delivered=True: bodies.get(m.id) or original(m, delivered))
    yield [m.id for m in messages[:count]]
    mimecast_env.reset()


def test_the_xss_corpus_never_runs_in_results_message_pages_or_bodies(page, transactional_db, planted, mimecast_env):
    UserFactory(username="alice", roles=["analyst"])
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, "alice")
    domain = mimecast_env.state.story["phishing_domain"]
    page.goto("/search/track/?" + urlencode({"sender": domain, "window": "7d", "reason": REASON}))
    page.wait_for_selector("#tt-results")
    results = page.locator("#tt-results")
    assert page.locator(INJECTED).count() == 0
    assert "<script>alert(1)</script>" in results.inner_text()  # shown as text, not run

    for n, message_id in enumerate(planted):
        page.goto(f"/messages/{message_id}/")
        page.wait_for_selector("#who-else", state="attached")  # the related section has been swapped in by htmx
        page.click("#tab-related")
        assert page.locator(INJECTED).count() == 0, f"injected markup on message {n}"
        page.goto(f"/messages/{message_id}/body/")
        page.fill("#id_reason", REASON)
        page.click(".reason-form button[type=submit]")
        page.wait_for_selector("#body-frame")
        assert page.get_attribute("#body-frame", "sandbox") == ""  # no allow tokens at all
        frame = page.frame_locator("#body-frame")
        frame.locator(f"text=XSS-BODY-MARKER-{n}").wait_for()
        assert frame.locator(FRAME_INJECTED).count() == 0, f"active content in body {n}"
        assert f"XSS-BODY-MARKER-{n}" not in page.locator("main").inner_text()  # only inside the frame

    assert dialogs == []
    assert not [e for e in page.console_errors if "Content Security Policy" in e or "Refused" in e]
