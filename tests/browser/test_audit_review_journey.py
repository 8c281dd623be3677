"""An auditor's journey through the audit review, in real Chromium with a real Celery worker."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command

from investigations.models import AuditEvent, AuditVerificationRun
from tests.audit.test_audit_review import append_events
from tests.browser.pages import screenshot, sign_in
from tests.factories import UserFactory


# The trail is imported with chosen dates, as only the owner of the tables can (see test_audit_review).
@pytest.mark.usefixtures("as_table_owner")
def test_an_auditor_filters_to_one_request_reads_its_timeline_exports_it_and_verifies_the_chain(page, worker):
    alice = UserFactory(username="alice", roles=["analyst"])
    carol = UserFactory(username="carol", roles=["approver"])
    UserFactory(username="dave", roles=["auditor"])
    call_command("audit_seed", "3000", "--seed", "7", stdout=io.StringIO())
    request = {"target_type": "remediationrequest", "target_id": "4242"}
    story = append_events(
        {"actor": alice, "action": "remediation.requested", "reason": 'INC-77 "invoice" lure </script>', **request},
        {"actor": carol, "action": "remediation.approved", "reason": "checked the preview", **request},
        {"actor_label": "task:investigations.tasks.remediation_execute", "action": "task.attempt", **request},
        {
            "actor_label": "task:investigations.tasks.remediation_execute",
            "action": "remediation.executed",
            "data": {"incident_code": "MC-004242", "removed": 31},
            **request,
        },
    )

    sign_in(page, "dave")
    page.click("nav >> text=Audit trail")
    page.locator("#audit-rows tr").nth(49).wait_for()
    screenshot(page, "audit-review-1-list")

    # Filter to the one remediation request: the table updates in place and the address carries it.
    page.fill("#id_target_type", "remediationrequest")
    page.fill("#id_target_id", "4242")
    page.click("button:has-text('Filter')")
    page.wait_for_url(re.compile(r"target_id=4242"))
    page.locator("#older-row").wait_for(state="detached")
    rows = page.locator("#audit-rows tr")
    assert rows.count() == 4
    assert "target_id=4242" in page.url and "target_type=remediationrequest" in page.url
    # The reason is shown as text, not markup.
    assert 'INC-77 "invoice" lure </script>' in rows.last.inner_text()
    screenshot(page, "audit-review-2-filtered")

    # Its timeline, oldest first.
    page.click("#audit-rows >> text=remediationrequest:4242 >> nth=0")
    page.wait_for_selector("h1:has-text('Timeline of request')")
    # Each action in words beside its code; one the code does not know (an older name) as recorded.
    actions = page.locator("#timeline-rows tr td:nth-child(4)").all_inner_texts()
    assert actions == [
        "Remediation requested remediation.requested",
        "Remediation approved remediation.approved",
        "Task attempt task.attempt",
        "remediation.executed",
    ]
    actors = page.locator("#timeline-rows tr td:nth-child(3)").all_inner_texts()
    assert actors == ["alice", "carol", "System: remediation runner", "System: remediation runner"]
    screenshot(page, "audit-review-3-timeline")

    # One event in full: its payload pretty-printed and its place in the chain.
    page.click(f"#timeline-rows >> text={story[-1].seq}")
    page.wait_for_selector("pre.payload")
    assert '"incident_code": "MC-004242"' in page.inner_text("pre.payload")
    assert story[-1].prev_hash in page.inner_text("dl.fields")
    screenshot(page, "audit-review-4-event")
    page.go_back()

    # Back to the shared filter address, then the CSV of exactly these events.
    page.click("text=Filter the trail to it")
    page.locator("#audit-rows tr", has_text="remediationrequest:4242").first.wait_for()
    with page.expect_download() as download_info:
        page.click(".exports >> text=CSV")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8")
    records = list(csv.reader(io.StringIO(text, newline="")))
    assert records[0][0] == "# mimecast-portal audit export"
    assert '"target_id": "4242"' in records[0][1]
    assert [int(r[0]) for r in records[2:]] == [e.seq for e in story]

    # Verify the chain: a Celery task in the worker, the panel polling until it is done.
    page.click("text=Verify the chain now")
    page.locator("#verification .badge-success", has_text="Passed").wait_for(timeout=60_000)
    screenshot(page, "audit-review-5-verified")
    run = AuditVerificationRun.objects.get()
    assert run.status == "passed" and run.checked == run.head_seq >= 3004
    assert AuditEvent.objects.filter(action="audit.exported", actor_label="dave", seq__gt=story[-1].seq).count() == 1
    assert page.console_errors == [], "\n".join(page.console_errors)
