"""An investigation in two real browsers, with a screenshot of each step: an analyst opens a case from
the quick search, pivots five times inside it (sender, domain, hash, URL logs, recipient) without being
asked for a reason again, picks 10 of the 45 recipients of a phish in "who else received it" and asks
for them to be remediated; an approver in another browser context sees those 10 and approves; a real
Celery worker carries it out, and the case shows each mailbox's outcome, one of them a failure the
simulator injects, with its reason."""

from investigations.core.context import case_reason
from investigations.models import AuditEvent, Investigation, RemediationItem, RemediationRequest
from investigations.remediation.kinds.bulk import NO_REASON
from tests.browser.pages import screenshot, sign_in
from tests.factories import PASSWORD, UserFactory

WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1}  # the pages see the outcome within seconds

TITLE = "Northwind invoice macro and the M365 password phish"
REASON = "Finance reported a macro invoice; the same actor phished mailbox passwords"
TICKET = "INC-7001"
MACRO_SENDER = "accounts@northwind-supp1ies.co"
PICKED = 10
# Remediating this one mailbox fails in the simulator; Mimecast's incident counts it as failed.
HOLD_REASON = "Mailbox is on litigation hold"
# And Mimecast refuses outright to make the incident of another one, saying why.
REFUSAL = "The mailbox is being migrated; try again after the migration"
CREATE_INCIDENT_PATH = "/api/ttp/remediation/create"


class NoSecondPrompt:
    """Every page the analyst lands on while working in the case: none may ask for a reason."""

    def __init__(self, page):
        self.page, self.seen = page, []

    def landed(self, what, ready):
        page = self.page
        page.wait_for_selector(ready)
        page.wait_for_load_state("networkidle")  # the htmx sections a page loads after it
        asked = page.locator("main [name=reason], #entity-reason").count()
        assert asked == 0, f"{what} asks for a reason again: {page.url}"
        assert page.locator("#current-case").count() == 1, f"{what} no longer shows the case: {page.url}"
        self.seen.append((what, page.url))


def _open_case_from_quick_search(page):
    sign_in(page, "alice")
    page.fill("#id_q", MACRO_SENDER)
    page.fill("#id_reason", REASON)
    page.fill("#id_ticket", TICKET)
    page.click("#quick-start-case")
    page.wait_for_selector("#case-form")
    # The form comes prefilled from the quick search.
    assert MACRO_SENDER in page.input_value("#id_title")
    assert page.input_value("#id_reason") == REASON
    assert page.input_value("#id_ticket_id") == TICKET
    page.fill("#id_title", TITLE)
    screenshot(page, "investigation-1-new-from-quick-search")
    page.click("#case-form button[type=submit]")
    page.wait_for_selector("#case-summary")
    case = Investigation.objects.get()
    assert (case.title, case.reason, case.ticket_id) == (TITLE, REASON, TICKET)
    if page.locator("#current-case").count() == 0:
        page.click("#case-enter")
        page.wait_for_selector("#current-case")
    assert page.inner_text("#current-case") == TITLE
    screenshot(page, "investigation-2-case-opened")
    return case


def _pivot_five_times(page, story):
    """sender -> domain -> hash -> URL logs -> recipient, each reached by following links (through a
    message page where the entity page itself has no link on)."""
    watch = NoSecondPrompt(page)
    # The quick search again, now inside the case: no reason typed.
    page.goto("/")
    page.fill("#id_q", MACRO_SENDER)
    page.click(".quick-search button[type=submit]")
    watch.landed("track & trace", "#tt-results")
    assert page.locator("#tt-results tbody tr").count() == 10

    page.locator("#tt-results a.entity[href^='/entities/sender/']").first.click()
    watch.landed("the sender", "#entity-mail")
    assert MACRO_SENDER in page.inner_text("#entity-value")
    screenshot(page, "investigation-3-pivot-sender")

    # To the domain, through one of the sender's messages.
    page.locator("#entity-mail a[href^='/messages/']").first.click()
    watch.landed("a message of the sender", "#message-tabs")
    page.locator("main a.entity[href^='/entities/domain/']").first.click()
    watch.landed("the domain", "#entity-mail")
    assert "northwind-supp1ies.co" in page.inner_text("#entity-value")
    screenshot(page, "investigation-4-pivot-domain")

    # To the attachment's hash, through one of the domain's messages.
    page.locator("#entity-mail a[href^='/messages/']").first.click()
    watch.landed("a message of the domain", "#message-tabs")
    page.click("#tab-attachments")  # the message page's sections are tabs
    page.locator("#attachments a.entity[href^='/entities/hash/']").first.click()
    watch.landed("the hash", "#entity-attachment-logs")
    assert story["macro_sha256"] in page.inner_text("#entity-value")
    assert page.locator("#entity-attachment-logs tbody tr").count() >= 24
    screenshot(page, "investigation-5-pivot-hash")

    # The URL Protect logs, from the threat tools: who clicked the phish.
    page.click("nav >> text=Threat tools")
    page.click("main a[href='/tools/url-logs/']")
    page.wait_for_selector("main form")
    page.fill("main [name=q]", story["phishing_domain"])
    page.select_option("main [name=window]", "30d")
    page.locator("main form button[type=submit]").first.click()
    watch.landed("the URL logs", "main table tbody tr")
    assert story["phishing_domain"] in page.inner_text("main table")
    screenshot(page, "investigation-6-pivot-url-logs")

    # To a recipient who clicked, and from their mail to the phish itself.
    page.locator("main table tbody a.entity[href^='/entities/recipient/']").first.click()
    watch.landed("the recipient", "#entity-mail")
    screenshot(page, "investigation-7-pivot-recipient")
    page.locator("#entity-mail a[href^='/messages/']", has_text="password expires").first.click()
    watch.landed("the phish", "#message-tabs")
    page.click("#tab-related")
    page.wait_for_selector("#who-else")
    return watch


def _tick_ten(page):
    boxes = page.locator("#who-else-table input[data-select-row]")
    assert boxes.count() == 45
    picked = []
    for n in range(PICKED):
        box = boxes.nth(n * 4)  # spread over the list, not the first ten
        box.check()
        picked.append(box.get_attribute("value"))
    return picked


def _request_remediation_of_ten(page, simulator):
    who_else = page.locator("#who-else")
    assert "45 recipient copies" in who_else.inner_text()
    picked = _tick_ten(page)
    screenshot(page, "investigation-8-who-else-ten-picked")
    # First into the case as evidence (the page comes back with nothing ticked), then to remediation.
    page.click("#who-else-selection .select-evidence")
    page.wait_for_selector("text=Added 10 messages to the investigation")
    page.wait_for_selector("#who-else")  # back on the same tab
    assert page.locator("#who-else-table input[data-select-row]:checked").count() == 0
    assert _tick_ten(page) == picked
    mailboxes = [value.partition("|")[0] for value in picked]
    # The simulator is told now: one mailbox fails when remediated, and Mimecast refuses another's incident.
    simulator.fail_remediation(mailboxes[2], HOLD_REASON)
    simulator.faults.add(
        path=CREATE_INCIDENT_PATH, kind="fail", code="err_mailbox_migrating", message=REFUSAL, skip=6, count=1
    )

    page.click("#who-else-selection .select-remediate")
    page.wait_for_selector("form.rem-form")
    lines = [line for line in page.input_value("form.rem-form [name=targets]").splitlines() if line.strip()]
    assert sorted(line.partition("|")[0] for line in lines) == sorted(mailboxes)
    if len(page.input_value("form.rem-form [name=reason]").strip()) < 10:
        page.fill("form.rem-form [name=reason]", "Pull the phish from the ten who did not report it yet")
    page.click("text=Save and preview")
    page.wait_for_selector("#rem-state[data-state=draft]")
    page.wait_for_selector("#bulk-preview")
    assert page.inner_text("#bulk-total") == str(PICKED)
    assert page.locator("#bulk-preview tbody tr").count() == PICKED
    screenshot(page, "investigation-9-preview-ten")
    page.click("#submit-for-approval")
    page.wait_for_selector("#rem-state[data-state=pending_approval]")
    return RemediationRequest.objects.get(), mailboxes


def _approve_in_another_context(chromium, live_server, req, mailboxes):
    context = chromium.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    try:
        approver = context.new_page()
        sign_in(approver, "carol")
        approver.click("nav >> text=Approvals")
        approver.wait_for_selector("#approval-queue")
        assert "alice" in approver.inner_text("#approval-queue")
        approver.click(f"a[href='/remediation/{req.pk}/decide/']")
        approver.wait_for_selector("#approve")
        # The approver sees the same ten mailboxes as the analyst's preview, and how many.
        assert approver.locator("#bulk-preview tbody tr").count() == PICKED
        listed = approver.inner_text("#bulk-preview")
        assert all(mailbox in listed for mailbox in mailboxes)
        assert approver.inner_text("#bulk-total") == str(PICKED)
        screenshot(approver, "investigation-10-approver-sees-ten")
        approver.fill("#id_reason", "Ten copies of a confirmed phish; approved")
        if approver.locator("#id_password").count():
            approver.fill("#id_password", PASSWORD)
        approver.click("#approve")
        approver.wait_for_selector("#rem-state")
        assert approver.url.endswith(f"/remediation/{req.pk}/")
        screenshot(approver, "investigation-11-approved")
        # The approver may read the case the request was made in.
        approver.goto(f"/cases/{req.investigation_id}/")
        approver.wait_for_selector("#case-requests")
        assert f"{req.pk}" in approver.inner_text("#case-requests")
    finally:
        context.close()


def test_an_investigation_from_quick_search_to_each_mailboxs_outcome(page, chromium, live_server, worker, mimecast_env):
    simulator = mimecast_env
    story = simulator.state.story
    UserFactory(username="alice", roles=["analyst"])
    UserFactory(username="carol", roles=["approver"])

    case = _open_case_from_quick_search(page)
    entered = AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()
    watch = _pivot_five_times(page, story)
    assert len(watch.seen) >= 8

    # Every search and view made in the case went to the audit trail under it, with its reason.
    made = AuditEvent.objects.filter(seq__gt=entered, actor_type="user", actor_label="alice")
    actions = set(made.values_list("action", flat=True))
    assert {"search.track_trace", "entity.viewed", "message.viewed", "search.url_logs"} <= actions, actions
    assert made.count() == made.filter(data__case=case.pk).count()
    reasons = set(made.exclude(reason="").values_list("reason", flat=True))
    assert reasons == {case_reason(case)}, reasons
    kinds = set(made.filter(action="entity.viewed").values_list("data__kind", flat=True))
    assert kinds == {"sender", "domain", "hash", "recipient"}, kinds

    req, mailboxes = _request_remediation_of_ten(page, simulator)
    assert req.investigation_id == case.pk
    assert req.kind == RemediationRequest.Kind.REMEDIATE_MESSAGES
    assert req.items.count() == PICKED
    page.evaluate("window.journeyMarker = 7")

    _approve_in_another_context(chromium, live_server, req, mailboxes)

    # The analyst's request page, never reloaded, follows the worker to the end.
    page.locator("#rem-state[data-state=failed]").wait_for(timeout=90_000)
    assert page.evaluate("window.journeyMarker") == 7
    items = {i.key.partition("|")[0]: i for i in RemediationItem.objects.filter(request=req)}
    assert sorted(items) == sorted(mailboxes)
    outcomes = {mailbox: (item.result or {}).get("outcome") or item.state for mailbox, item in items.items()}
    held, refused = mailboxes[2], mailboxes[6]
    assert outcomes[held] == "failed", outcomes
    assert items[refused].state == RemediationItem.State.FAILED and REFUSAL in items[refused].error
    assert [m for m, o in outcomes.items() if o == "removed"] == [m for m in mailboxes if m not in (held, refused)]
    journal = simulator.effects("remediate", target=items[held].key)
    assert [(e.get("outcome"), e.get("reason")) for e in journal] == [("failed", HOLD_REASON)], journal

    # The case shows each mailbox's outcome, the failures with their reasons.
    page.goto(f"/cases/{case.pk}/")
    page.wait_for_selector("#case-requests")
    outcome_rows = page.locator(f"#case-outcomes-{req.pk} tbody tr")
    assert outcome_rows.count() == PICKED
    for mailbox in mailboxes:
        row = outcome_rows.filter(has_text=mailbox)
        assert row.count() == 1, mailbox
        text = row.inner_text()
        if mailbox == refused:
            assert "failed" in text and REFUSAL in text
        elif mailbox == held:
            assert "failed" in text and NO_REASON in text  # the incident counts the failure, without a reason
        else:
            assert "removed" in text
    # The ten messages are evidence: the removed ones say so.
    evidence = page.locator("#evidence-table tbody tr")
    assert evidence.count() == PICKED
    assert evidence.filter(has_text="remediated from 1 mailbox").count() == PICKED - 2
    for mailbox in (held, refused):
        assert "remediated" not in evidence.filter(has_text=mailbox).inner_text()
    # The timeline holds the pivots, the request and the decision.
    timeline = page.inner_text("#timeline")
    for words in ("Entity page viewed", "Remediation approved", "Evidence added"):
        assert words.lower() in timeline.lower(), words
    screenshot(page, "investigation-12-case-outcomes")
    assert page.console_errors == []
