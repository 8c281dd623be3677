"""The README's demo walk-through, followed step by step as written: the demo's logins (made by
``demo_setup``, as ``make demo`` makes them), the simulator's seeded organisation (the demo's seed), a
real Celery worker. Every value a step types and every result it promises is taken from the README's
text, so a walk-through that no longer works, or a README that no longer says what the portal does,
fails here."""

import io
import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse

from investigations.models import AuditVerificationRun, RemediationRequest

README = Path(__file__).resolve().parents[2] / "README.md"
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1}


def _walkthrough():
    text = README.read_text(encoding="utf-8")
    start = text.index("### A walk-through on the demo data")
    return " ".join(text[start : text.index("\n## ", start)].split())


WALKTHROUGH = _walkthrough()


def said(text):
    """A value the README gives or a result it promises, checked to be in the walk-through as written."""
    assert text in WALKTHROUGH, f"the README's walk-through no longer says {text!r}"
    return text


def step(number):
    """One numbered step's text."""
    match = re.search(rf"(?:^| ){number}\. (.*?)(?= {number + 1}\. \*\*|$)", WALKTHROUGH)
    assert match, f"the walk-through has no step {number}"
    return match.group(1)


class _Forms(HTMLParser):
    """The forms of a page: attributes and the values they would post (text, hidden, selected option,
    textarea), enough to submit a form as a browser would."""

    def __init__(self):
        super().__init__()
        self.forms, self._select, self._textarea = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"attrs": attrs, "fields": {}, "buttons": []})
        elif not self.forms:
            return
        fields = self.forms[-1]["fields"]
        if tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("submit", "button"):
                self.forms[-1]["buttons"].append(attrs)
            elif kind not in ("checkbox", "radio") or "checked" in attrs:
                fields[attrs["name"]] = attrs.get("value", "")
        elif tag == "button":
            self.forms[-1]["buttons"].append(attrs)
        elif tag == "select":
            self._select = attrs.get("name")
        elif tag == "option" and self._select and (self._select not in fields or "selected" in attrs):
            fields[self._select] = attrs.get("value", "")
        elif tag == "textarea":
            self._textarea = attrs.get("name")
            fields[self._textarea] = ""

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea" and self._textarea:
            # A browser drops the one newline that follows <textarea>.
            fields = self.forms[-1]["fields"]
            fields[self._textarea] = fields[self._textarea].removeprefix("\n")
            self._textarea = None

    def handle_data(self, data):
        if self._textarea and self.forms:
            self.forms[-1]["fields"][self._textarea] += data


def form_of(html, pick):
    parser = _Forms()
    parser.feed(html)
    forms = [f for f in parser.forms if pick(f)]
    assert forms, "no such form on the page"
    return forms[0]


def text_of(response):
    """What a reader sees: the page's text, tags dropped, spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).replace("&#x27;", "'").split())


def sign_in(client, username, password):
    client.post(reverse("logout"))
    response = client.post(reverse("login"), {"username": username, "password": password})
    assert response.status_code == 302
    return response


def wait_for(condition, seconds=60):
    """Until the worker has done its part (it runs in another thread, on the real broker)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.2)


@pytest.fixture
def demo(worker, mimecast_env, settings, tmp_path):
    """The demo's users, as `make demo` creates them; what it prints (the approver's recovery codes)."""
    out = io.StringIO()
    call_command("demo_setup", stdout=out)
    return out.getvalue()


def test_the_readme_walkthrough_works_as_written(client, demo):
    # 1. Find the lure.
    one = step(1)
    assert said("`analyst` (`analyst-demo-pass`)") in one
    sign_in(client, "analyst", "analyst-demo-pass")
    domain, reason = said("`northwind-supp1ies.co`")[1:-1], said("`Invoice lure with a macro attachment`")[1:-1]
    found = client.get(reverse("quick-search"), {"q": domain, "reason": reason}, follow=True)
    page = text_of(found)
    assert said("`10 messages`")[1:-1] in page
    subject = said("*Overdue invoice INV-20931 - final reminder*")[1:-1]
    assert page.count(subject) == 10
    assert page.count(" held ") == 2

    # 2. Open one: the message page's attachments (its detail section) show the macro document.
    message_id = re.search(r'href="/messages/([^/"?]+)/', found.content.decode()).group(1)
    assert client.get(reverse("message-detail", args=[message_id])).status_code == 200
    detail = client.get(reverse("message-detail-section", args=[message_id]))
    assert said("`INV-20931.docm`")[1:-1] in text_of(detail)
    assert said("*Attachments & URLs*") and "Attachments and components" in text_of(detail)

    # 3. Request its removal, from the link beside the attachment, with the reason the form requires.
    link = re.search(r'<a href="([^"]+)" class="pivot-remediate-hash">([^<]+)</a>', detail.content.decode())
    assert link and said(f"*{link.group(2)}*")
    url = link.group(1).replace("&amp;", "&")
    form_page = client.get(url)
    form = form_of(form_page.content.decode(), lambda f: "rem-form" in f["attrs"].get("class", ""))
    assert form["fields"]["search_by"] == "hash" and len(form["fields"]["search_value"]) == 64
    assert form["fields"]["reason"] == ""  # nothing types the reason for you
    assert said("*Save and preview*") in step(3) and "Save and preview" in text_of(form_page)
    fields = {**form["fields"], "reason": said("`Macro invoice INV-20931 from a look-alike domain`")[1:-1]}
    saved = client.post(form["attrs"].get("action") or url, fields)
    assert saved.status_code == 302
    req = RemediationRequest.objects.get()
    preview = text_of(client.get(saved["Location"]))
    assert said("`10 messages in 28 mailboxes`")[1:-1] in preview
    assert said("`24 of 30 copies still delivered`")[1:-1] in preview
    assert said("*Submit for approval*") and "Submit for approval" in preview
    client.post(reverse("remediation-submit", args=[req.pk]))
    req.refresh_from_db()
    assert req.get_state_display() == said("*Pending approval*")[1:-1]

    # 4. Approve it, as the approver, after the second sign-in step with a printed recovery code.
    assert said("`approver` (`approver-demo-pass`)") in step(4)
    codes = re.search(r"approver\s+recovery codes: (\S+)", demo).group(1)
    second = sign_in(client, "approver", "approver-demo-pass")
    assert reverse("login-second-factor") in second["Location"]
    assert client.post(reverse("login-second-factor"), {"otp_code": codes}).status_code == 302
    queue = client.get(reverse("remediation-approvals"))
    assert (
        said("*Approvals*") and said("*Decide*") and f'href="/remediation/{req.pk}/decide/"' in queue.content.decode()
    )
    decide = client.get(reverse("remediation-decide", args=[req.pk]))
    decision = form_of(decide.content.decode(), lambda f: any(b.get("id") == "approve" for b in f["buttons"]))
    assert said("*Approve*")
    approve_reason = said("(`Sandbox verdict: malicious macro`)")[2:-2]
    answer = client.post(
        reverse("remediation-decide", args=[req.pk]),
        {**decision["fields"], "reason": approve_reason, "decision": "approve"},
    )
    assert answer.status_code == 302

    # 5. Watch it run: the worker carries it out; the page shows the counts and the restore.
    wait_for(lambda: RemediationRequest.objects.get(pk=req.pk).is_final)
    req.refresh_from_db()
    assert req.get_state_display() == said("*Succeeded*")[1:-1]
    assert said("(`Identified` 24 copies, most removed;")
    assert req.identified == 24 and req.successful > req.identified / 2
    request_page = text_of(client.get(reverse("remediation-detail", args=[req.pk])))
    assert said("*Request a restore of this remediation*")[1:-1] in request_page
    assert said("`System: remediation runner`")[1:-1] in request_page

    # 6. Audit it, filtered to the request, then verify the chain.
    assert said("`auditor` (`auditor-demo-pass`)") in step(6)
    sign_in(client, "auditor", "auditor-demo-pass")
    assert said("*Audit trail*") and said("*Target type*") and said("*Target id*")
    # On a fresh demo this is the first request, number 1; here the test database's numbering goes on.
    assert said("(`1` on a fresh demo)") and RemediationRequest.objects.count() == 1
    trail = client.get(reverse("audit-list"), {"target_type": said("`remediationrequest`")[1:-1], "target_id": req.pk})
    rows = text_of(trail)
    for actor in ("analyst", "approver", "System: remediation runner", "System: remediation poller"):
        assert said(f"`{actor}`") and actor in rows
    assert said("*Verify the chain now*")[1:-1] in text_of(trail)
    client.post(reverse("audit-verification-start"))
    wait_for(lambda: AuditVerificationRun.objects.exclude(finished_at=None).exists())
    verification = text_of(client.get(reverse("audit-verification")))
    assert said("*Passed*")[1:-1] in verification
