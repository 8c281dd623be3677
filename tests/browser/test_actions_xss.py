"""The XSS corpus against every response-action page and partial.

Vectors go where the pages take text from: Mimecast's answers (held messages' subjects, display
names, hold reasons and policies; the recipients Message Finder lists for a sender; URL Protect
clicks' URLs, users and subjects; managed URLs' comments; blocked-sender policies' descriptions),
and what people type (a request's reason, ticket id, URL comment, reject message, break-glass
reason, review note, the query string a start point builds). Each page is opened in headless
Chromium as the persona who uses it, as a whole page under the portal's CSP, and each htmx partial
is loaded on its own into a blank page without any CSP, so only the escaping stands between a vector
and a running script. No dialog may open, no injected element may appear, and the vectors must be
on the page as text."""

import json
from urllib.parse import urlencode

import pytest
from django.utils import timezone

from investigations.models import RemediationRequest
from investigations.remediation import services
from tests.browser.pages import sign_in
from tests.browser.xss_checks import INJECTED_SELECTORS
from tests.browser.xss_vectors import xss_vectors
from tests.remediation.samples import URL_BLOCK

Kind = RemediationRequest.Kind
SCRIPT = "<script>alert(1)</script>"
# What the portal's own forms put inside <main>: a named <textarea> is a form field; the corpus's
# textareas carry no name (and their autofocus/onfocus is caught by [onfocus] anyway).
PAGE_INJECTED = ", ".join(
    "main " + ("textarea:not([name])" if sel == "textarea" else sel) for sel in INJECTED_SELECTORS
)
# A ticket id column holds 64 characters: the shortest vectors fit.
TICKET = '"><svg onload=alert(1)>'
BLOCK_TARGET_URL = "https://prize-claims.example/claim"


def witness(source):
    """A vector planted in one place only: seeing its text on a page proves the page shows that place."""
    return f"<script>alert('{source}')</script>"


def _chunks(vectors, size):
    return [vectors[i : i + size] for i in range(0, len(vectors), size)]


def _typed(vectors):
    """Free text a person could type, holding the whole corpus, the plainest vector first."""
    return "\n".join(vectors)


# ------------------------------------------------------------------------------- planting


def _plant_held(state, vectors):
    held = [m for m in state.messages if m.status == "held"]
    slots = [(m, j) for m in held for j in range(4)]
    assert len(slots) >= len(vectors)
    for n, (m, j) in enumerate(slots):
        # The first message of each held request below carries the witnesses.
        v = witness(f"held-{j}") if m in (held[0], held[12]) else vectors[n % len(vectors)]
        m.held = dict(m.held)
        if j == 0:
            m.subject = v
        elif j == 1:
            m.from_name = v
        elif j == 2:
            m.held["reason"] = v
        else:
            m.held["policy"] = v
    return held


def _plant_policies(state, vectors):
    """Every blocked-sender policy covers every sender (from: everyone), so the block preview lists
    all of them with their descriptions."""
    for n, pol in enumerate(state.policies):
        body = pol["policy"]
        body["description"] = witness("policy") if n == 0 else vectors[n % len(vectors)]
        body.update(**{"from": {"type": "everyone"}}, fromType="everyone", fromValue="")


def _plant_sender_mail(state, domain, vectors):
    """The recipients Message Finder lists for the mail from ``domain`` (the block preview's top
    recipients)."""
    mail = [m for m in state.messages if m.from_addr.lower().endswith("@" + domain)]
    assert mail
    for n, m in enumerate(mail):
        v = witness("recipient") if n < 5 else vectors[n % len(vectors)]
        m.to = [(v, f"{v}@acme-corp.com".lower()), *m.to[1:]]
        m.from_name = v


def _plant_clicks(state, vectors):
    """The newest URL Protect clicks become clicks on BLOCK_TARGET_URL's domain, by and about vectors."""
    newest = sorted(state.click_logs, key=lambda c: c["_dt"], reverse=True)[:24]
    for n, click in enumerate(newest):
        v = witness("click") if n < 3 else vectors[n % len(vectors)]
        click.update(
            url=f"https://prize-claims.example/{v}",
            userEmailAddress=v,
            fromUserEmailAddress=v,
            subject=v,
            messageId=f"<{v}>",
        )


def _plant_managed_urls(state, vectors):
    for n, entry in enumerate(state.managed_urls):
        entry["comment"] = vectors[n % len(vectors)]
    entry = next(e for e in state.managed_urls if e["domain"] == "prize-claims.example")
    entry["comment"] = witness("managed-url")


@pytest.fixture
def planted(mimecast_env):
    state = mimecast_env.state
    vectors = xss_vectors()
    held = _plant_held(state, vectors)
    _plant_policies(state, vectors)
    domain = state.story["phishing_domain"]
    _plant_sender_mail(state, domain, vectors)
    _plant_clicks(state, vectors)
    _plant_managed_urls(state, vectors)
    yield {"held_ids": [m.id for m in held], "domain": domain, "vectors": vectors}
    mimecast_env.reset()


@pytest.fixture
def people(transactional_db, analyst, approver, second_approver, admin_user):
    return {"alice": analyst, "carol": approver, "dan": second_approver, "erin": admin_user}


# ------------------------------------------------------------------------------- checking


class Watch:
    """The dialogs a page opened, kept for the final check; the portal's own confirmations (named in
    ``confirm``) are accepted and not counted."""

    def __init__(self, page):
        self.page, self.dialogs, self.confirm = page, [], set()
        page.on("dialog", self._dialog)

    def _dialog(self, dialog):
        if dialog.type == "confirm" and dialog.message in self.confirm:
            dialog.accept()
        else:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

    def clean(self, where, *, shows=()):
        page = self.page
        assert page.locator(PAGE_INJECTED).count() == 0, f"injected markup on {where}"
        text = page.locator("main").inner_text()
        for expected in shows:
            assert expected in text, f"{expected!r} is not shown as text on {where}"
        assert self.dialogs == [], f"a dialog opened on {where}: {self.dialogs}"

    def full(self, url, *, ready="main", shows=()):
        response = self.page.goto(url)
        assert response.status < 500, f"{url} answered {response.status}"
        self.page.wait_for_selector(ready)
        self.clean(url, shows=shows)
        return response

    def partial(self, url, *, target=None, shows=()):
        """The htmx partial alone, in a page with no CSP: nothing but the escaping keeps it inert."""
        headers = {"HX-Request": "true", **({"HX-Target": target} if target else {})}
        answer = self.page.request.get(url, headers=headers)
        assert answer.status < 500, f"{url} (htmx) answered {answer.status}"
        html = answer.text()
        self.page.goto("about:blank")
        # A view without partials answers htmx with the whole page: it is checked whole (no CSP still).
        whole = "<html" in html[:500].lower()
        self.page.set_content(html if whole else f"<main>{html}</main>")
        self.page.wait_for_timeout(300)  # autofocus and onload handlers would have run by now
        self.clean(f"{url} (htmx partial)", shows=shows)
        return html


def _request(actor, kind, params, *, reason, ticket_id=TICKET, restore_of=None):
    values = {"kind": kind, "params": params, "reason": reason, "ticket_id": ticket_id}
    if restore_of is not None:
        values["restore_of"] = restore_of
    req = services.remediation_request_create(actor=actor, values=values)
    services.remediation_request_preview(actor=actor, request_id=req.pk)
    return req


def _submitted(actor, kind, params, *, reason, **kwargs):
    req = _request(actor, kind, params, reason=reason, **kwargs)
    return services.remediation_request_submit(actor=actor, request_id=req.pk)


def _request_pages(watch, req, *, shows):
    detail = f"/remediation/{req.pk}/"
    watch.full(detail, ready="#rem-state", shows=shows)
    watch.partial(detail)


# ---------------------------------------------------------------------------------- tests


def test_the_kind_picker_and_each_kind_form_prefilled_with_the_corpus(page, people, planted):
    watch = Watch(page)
    sign_in(page, "alice")
    vectors = planted["vectors"]
    watch.full("/remediation/new/")
    watch.partial("/remediation/new/")
    for chunk in _chunks(vectors, 40):
        queries = [
            {"kind": chunk},
            {"kind": Kind.BLOCK_SENDER, "value": chunk[0], "target_type": chunk[1]},
            {"kind": Kind.BLOCK_SENDER, "value": chunk[2], "target_type": "email_domain"},
            {"kind": Kind.MANAGE_URL, "url": chunk, "action": chunk[3]},
            {"kind": Kind.RELEASE_HELD, "held_id": chunk},
            {"kind": Kind.REJECT_HELD, "held_id": chunk},
        ]
        for query in queries:
            url = "/remediation/new/?" + urlencode(query, doseq=True)
            watch.full(url)
            watch.partial(url)
    # Real held ids: the form names each message by its (planted) subject and sender.
    held = "&".join(f"held_id={i}" for i in planted["held_ids"][:10])
    for kind in (Kind.RELEASE_HELD, Kind.REJECT_HELD):
        watch.full(f"/remediation/new/?kind={kind}&{held}")
        watch.partial(f"/remediation/new/?kind={kind}&{held}")
    assert not [e for e in page.console_errors if "Refused" in e]


def test_each_kind_request_page_the_approvals_queue_and_the_decision_form(page, people, planted):
    alice, carol, dan = people["alice"], people["carol"], people["dan"]
    vectors = planted["vectors"]
    typed = _typed(vectors)
    held = planted["held_ids"]
    requests = {
        "block_address": _submitted(
            alice,
            Kind.BLOCK_SENDER,
            {"target_type": "email_address", "value": f"x@{planted['domain']}", "from_part": "both"},
            reason=typed,
        ),
        "block_domain": _submitted(
            alice,
            Kind.BLOCK_SENDER,
            {"target_type": "email_domain", "value": planted["domain"], "from_part": "envelope_from"},
            reason=typed,
        ),
        "manage_url": _submitted(
            alice,
            Kind.MANAGE_URL,
            {
                **URL_BLOCK,
                "urls": [BLOCK_TARGET_URL, f"https://{planted['domain']}/login"],
                "match_type": "domain",
                "comment": typed,
            },
            reason=typed,
        ),
        "release_held": _submitted(alice, Kind.RELEASE_HELD, {"held_ids": held[:12]}, reason=typed),
        "reject_held": _submitted(
            alice,
            Kind.REJECT_HELD,
            {
                "held_ids": held[12:24],
                "reason_type": "MESSAGE_CONTAINS_UNDESIRABLE_CONTENT",
                "message": typed,
                "notify": True,
            },
            reason=typed,
        ),
    }
    # The flagged release needs two approvers: its page is also seen between the two approvals.
    assert requests["release_held"].approvals_required == 2
    for name, req in requests.items():
        assert req.state == RemediationRequest.State.PENDING_APPROVAL, name
        preview = json.dumps(req.preview)
        assert "alert(1)" in preview, f"the {name} preview shows nothing planted: the check would prove nothing"

    shown = {
        "block_address": (witness("policy"),),
        "block_domain": (witness("policy"), witness("recipient")),
        "manage_url": (witness("click"), witness("managed-url")),
        "release_held": (witness("held-0"),),
        "reject_held": (witness("held-0"),),
    }
    watch = Watch(page)
    sign_in(page, "alice")
    for name, req in requests.items():
        _request_pages(watch, req, shows=(SCRIPT, TICKET, *shown[name]))
    watch.full("/remediation/")
    watch.partial("/remediation/", target="remediation-rows")

    page.context.clear_cookies()
    sign_in(page, "carol")
    watch.full("/remediation/approvals/", shows=(SCRIPT,))
    watch.partial("/remediation/approvals/")
    for name, req in requests.items():
        _request_pages(watch, req, shows=(SCRIPT, *shown[name]))
        watch.full(f"/remediation/{req.pk}/decide/", shows=(SCRIPT,))

    # Carried out: the outcomes table shows each item with what Mimecast answered.
    for req in requests.values():
        for approver in (carol, dan):
            current = RemediationRequest.objects.get(pk=req.pk)
            if current.state == RemediationRequest.State.PENDING_APPROVAL:
                services.remediation_request_approve(
                    actor=approver, request_id=req.pk, reason=vectors[5], authenticated_at=timezone.now()
                )
                if RemediationRequest.objects.get(pk=req.pk).state == RemediationRequest.State.PENDING_APPROVAL:
                    _request_pages(watch, req, shows=(SCRIPT,))  # one of two approvals given
                    watch.full("/remediation/approvals/", shows=(SCRIPT,))
        services.remediation_execute(request_id=req.pk)
        req.refresh_from_db()
        assert req.is_final and req.items.exists(), (req.state, req.failure_reason)
        _request_pages(watch, req, shows=(SCRIPT,))
    assert not [e for e in page.console_errors if "Refused" in e]


def test_the_undo_request_pages(page, people, planted):
    alice, carol = people["alice"], people["carol"]
    typed = _typed(planted["vectors"])
    done = {}
    for kind, params in (
        (Kind.BLOCK_SENDER, {"target_type": "email_domain", "value": "vector-undo.example", "from_part": "both"}),
        (
            Kind.MANAGE_URL,
            {"urls": ["https://vector-undo.example/a"], "action": "permit", "match_type": "explicit", "comment": typed},
        ),
    ):
        req = _submitted(alice, kind, params, reason=typed)
        services.remediation_request_approve(
            actor=carol, request_id=req.pk, reason="ok", authenticated_at=timezone.now()
        )
        services.remediation_execute(request_id=req.pk)
        req.refresh_from_db()
        assert req.state == RemediationRequest.State.SUCCEEDED, (kind, req.failure_reason)
        done[kind] = services.remediation_request_undo(actor=alice, request_id=req.pk)
        services.remediation_request_preview(actor=alice, request_id=done[kind].pk)
    watch = Watch(page)
    sign_in(page, "alice")
    for undo in done.values():
        _request_pages(watch, undo, shows=(SCRIPT,))


def test_the_oversight_pages_and_break_glass(page, people, planted):
    erin = people["erin"]
    vectors = planted["vectors"]
    typed = _typed(vectors)
    watch = Watch(page)

    # The admin carries one out alone from its request page, typing the reason.
    sign_in(page, "erin")
    draft = _request(
        erin,
        Kind.BLOCK_SENDER,
        {"target_type": "email_address", "value": "a@vector.example", "from_part": "both"},
        reason=typed,
    )
    watch.confirm.add(f"Carry out request #{draft.pk} now, without an approver?")
    watch.full(f"/remediation/{draft.pk}/", ready="#break-glass", shows=(SCRIPT, witness("policy")))
    page.fill("#break-glass [name=reason]", SCRIPT + "\u200b")  # an invisible mark: refused
    page.click("#break-glass-submit")
    page.wait_for_selector("#break-glass .field-error")
    watch.clean("the refused break-glass reason")
    assert page.input_value("#break-glass [name=reason]").startswith(SCRIPT)
    page.fill("#break-glass [name=reason]", f"{SCRIPT} {vectors[9]}")
    page.click("#break-glass-submit")
    page.wait_for_selector("#break-glass-note")
    watch.clean("the request carried out alone", shows=(vectors[9],))
    assert RemediationRequest.objects.get(pk=draft.pk).break_glass

    acted = [draft]
    for kind, params in (
        (Kind.BLOCK_SENDER, {"target_type": "email_domain", "value": planted["domain"], "from_part": "both"}),
        (
            Kind.MANAGE_URL,
            {"urls": [BLOCK_TARGET_URL], "action": "block", "match_type": "domain", "comment": typed},
        ),
    ):
        req = _request(erin, kind, params, reason=typed)
        services.remediation_request_break_glass(
            actor=erin, request_id=req.pk, reason=typed, authenticated_at=timezone.now()
        )
        acted.append(req)

    # The admin sets the rules; a refused change echoes what was typed.
    watch.full("/oversight/rules/", ready="#rules-form")
    watch.partial("/oversight/rules/")
    page.goto("/oversight/rules/")
    reason = page.locator("#rules-form [name=reason]")
    if reason.count():
        reason.fill(vectors[1])
    page.fill("#rules-form [name=domain_block_admin_threshold]", "-1")
    page.click("#rules-form button[type=submit]")
    page.wait_for_selector("#rules-form .field-error, #rules-form .error")
    watch.clean("the refused rules form")

    # An approver reviews one through the page, with a vector for a note.
    page.context.clear_cookies()
    sign_in(page, "carol")
    watch.full("/oversight/break-glass/", ready="#break-glass-unreviewed", shows=(SCRIPT,))
    watch.partial("/oversight/break-glass/", shows=(SCRIPT,))
    for req in acted:
        _request_pages(watch, req, shows=(SCRIPT,))
    page.goto("/oversight/break-glass/")
    row = page.locator(f"#break-glass-{acted[0].pk}")
    row.locator("textarea[name=note]").fill(SCRIPT + " " + vectors[7])
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#break-glass-reviewed >> text={vectors[7]}")
    watch.clean("the break-glass queue after a review", shows=(SCRIPT, vectors[7]))
    watch.partial("/oversight/break-glass/", shows=(vectors[7],))
    _request_pages(watch, acted[0], shows=(vectors[7],))
    # A note that is refused comes back in the form, escaped.
    page.goto("/oversight/break-glass/")
    row = page.locator(f"#break-glass-{acted[1].pk}")
    row.locator("textarea[name=note]").fill(SCRIPT + "\u200b")  # an invisible mark: refused
    row.locator("button[type=submit]").click()
    page.wait_for_selector(f"#break-glass-{acted[1].pk} .field-error")
    watch.clean("the refused review note")
    assert row.locator("textarea[name=note]").input_value().startswith(SCRIPT)
    assert RemediationRequest.objects.get(pk=acted[0].pk).review_note.startswith(SCRIPT)
    assert not [e for e in page.console_errors if "Refused" in e]


def _fill_every_field(page, value):
    """Type ``value`` into every text field of the request form (choices and checkboxes stay)."""
    fields = page.locator(
        "form.rem-form textarea:visible, form.rem-form input:visible:not([type=checkbox]):not([type=radio])"
        ":not([type=hidden]):not([type=number]):not([type=datetime-local]):not([type=submit])"
    )
    for n in range(fields.count()):
        fields.nth(n).fill(value)
    return fields.count()


def _typed_values(page):
    return page.eval_on_selector_all("form.rem-form textarea, form.rem-form input", "els => els.map(e => e.value)")


def test_the_hold_queue_and_every_kind_form_typed_into(page, people, planted):
    vectors = planted["vectors"]
    watch = Watch(page)
    sign_in(page, "alice")
    queue = "/tools/held/?" + urlencode({"window": "30d", "select": "all"})
    watch.full(queue, ready="#held-queue", shows=(witness("held-0"),))
    watch.partial(queue)
    watch.full("/tools/held/?" + urlencode({"window": "30d", "value": vectors[3], "search_field": "subject"}))
    watch.partial("/tools/held/?" + urlencode({"window": "30d", "value": vectors[3]}))

    # From the queue to a release request: the selection prefills the form, the reason is typed.
    page.goto(queue)
    page.click("button[name=kind][value=release_held]")
    page.wait_for_selector("form.rem-form")
    watch.clean("the release form from the queue")
    page.fill("form.rem-form [name=reason]", _typed(vectors[:20]))
    page.click("form.rem-form button[type=submit]")
    page.wait_for_selector("#rem-state, .field-error, .error")
    assert page.locator("#rem-state").count(), page.locator(".field-error, .error").all_inner_texts()
    watch.clean("the release request made from the queue", shows=(SCRIPT, witness("held-0")))

    # Every kind's form with the corpus in every text field: refused values come back escaped.
    for kind in (Kind.BLOCK_SENDER, Kind.MANAGE_URL, Kind.RELEASE_HELD, Kind.REJECT_HELD):
        for vector in vectors[::9]:
            page.goto(f"/remediation/new/?kind={kind}&" + urlencode({"held_id": planted["held_ids"][:3]}, doseq=True))
            page.wait_for_selector("form.rem-form")
            assert _fill_every_field(page, vector), kind
            page.click("form.rem-form button[type=submit]")
            page.wait_for_load_state()
            page.wait_for_selector("main")
            watch.clean(f"the {kind} form typed into with {vector!r}")
            assert vector in _typed_values(page) or vector in page.locator("main").inner_text(), (kind, vector)
    assert not [e for e in page.console_errors if "Refused" in e]
