"""Oversight: the approval rules an admin sets, the break-glass after-review queue, the home flag."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.models import ApprovalRules, AuditAction, AuditEvent, RemediationRequest
from investigations.oversight import selectors
from investigations.oversight.services import approval_rules_update
from investigations.remediation import services as remediation
from tests.factories import RemediationRequestFactory, UserFactory

ROLES = ["analyst", "approver", "auditor", "admin", "outsider"]
GOOD = {
    "flagged_release_approvers": "1",
    "domain_block_admin_threshold": "200",
    "break_glass_review_hours": "48",
    "reason": "Fewer false alarms from the busy partner domains",
}


def _rules_events():
    return AuditEvent.objects.filter(action=AuditAction.APPROVAL_RULES_CHANGED)


def break_glass(admin, *, hours_ago, value="evil.example", **extra):
    """A block an admin carried out alone ``hours_ago`` hours back, as the engine leaves it."""
    return RemediationRequestFactory(
        kind=RemediationRequest.Kind.BLOCK_SENDER,
        state=RemediationRequest.State.SUCCEEDED,
        params={"target_type": "email_domain", "value": value, "from_part": "both"},
        reason=f"Phishing wave from {value}, blocked at once",
        requested_by=admin,
        at=timezone.now() - timedelta(hours=hours_ago),
        finished=True,
        break_glass=True,
        **extra,
    )


# ---- the approval rules page ----


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_only_admins_open_or_change_the_rules(client, personas, role, htmx):
    if role != "anonymous":
        client.force_login(personas[role])
    headers = {"HX-Request": "true", "HX-Target": "rules-form"} if htmx else {}
    url = reverse("oversight-rules")
    shown = client.get(url, headers=headers)
    saved = client.post(url, GOOD, headers=headers)
    if role == "admin":
        assert shown.status_code == 200
        assert saved.status_code == (204 if htmx else 302)
        assert ApprovalRules.objects.get().break_glass_review_hours == 48
        return
    if role == "anonymous":
        assert shown.status_code == saved.status_code == 302
        assert shown.url.startswith(reverse("login"))
    else:
        assert shown.status_code == saved.status_code == 403
    assert not _rules_events().exists()
    assert selectors.approval_rules_current().break_glass_review_hours == 24


def test_the_rules_page_shows_the_admin_what_waits_for_review(client, admin_user, approver):
    break_glass(admin_user, hours_ago=30, value="waiting.example")
    break_glass(admin_user, hours_ago=30, value="done.example", reviewed_by=approver, reviewed_at=timezone.now())
    client.force_login(admin_user)
    page = client.get(reverse("oversight-rules")).content.decode()
    assert "waiting.example" in page and "overdue" in page
    assert "done.example" not in page


def test_a_missing_rules_row_reads_as_the_defaults_and_is_created_once(db):
    assert not ApprovalRules.objects.exists()
    first = selectors.approval_rules_current()
    assert (first.pk, first.flagged_release_approvers, first.domain_block_admin_threshold) == (1, 2, 50)
    assert first.break_glass_review_hours == 24
    assert selectors.approval_rules_current().pk == first.pk
    assert ApprovalRules.objects.count() == 1


def test_a_rules_change_is_saved_and_audited_with_before_and_after(client, admin_user):
    client.force_login(admin_user)
    response = client.post(reverse("oversight-rules"), GOOD, follow=True)
    assert "Approval rules saved." in response.content.decode()
    rules = ApprovalRules.objects.get()
    assert (rules.flagged_release_approvers, rules.domain_block_admin_threshold, rules.break_glass_review_hours) == (
        1,
        200,
        48,
    )
    assert rules.updated_by == admin_user and rules.updated_at is not None
    event = _rules_events().get()
    assert (event.actor_label, event.target_type, event.target_id) == ("erin", "settings", "approval-rules")
    assert event.reason == GOOD["reason"]
    assert event.data["before"] == {
        "flagged_release_approvers": 2,
        "domain_block_admin_threshold": 50,
        "break_glass_review_hours": 24,
    }
    assert event.data["after"] == {
        "flagged_release_approvers": 1,
        "domain_block_admin_threshold": 200,
        "break_glass_review_hours": 48,
    }
    assert event.data["changed"] == sorted(event.data["after"])
    # The page shows what is now in force and who set it.
    page = client.get(reverse("oversight-rules")).content.decode()
    assert "48 h" in page and "erin" in page


def test_saving_the_same_rules_again_writes_no_event(admin_user):
    values = {"flagged_release_approvers": 2, "domain_block_admin_threshold": 75, "break_glass_review_hours": 24}
    _, changed = approval_rules_update(actor=admin_user, values=values)
    assert changed == ["domain_block_admin_threshold"]
    _, changed = approval_rules_update(actor=admin_user, values=values)
    assert changed == []
    assert _rules_events().count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("domain_block_admin_threshold", "-1", "Give 0 or more messages."),
        ("domain_block_admin_threshold", "1000001", "Give at most 1,000,000 messages."),
        ("domain_block_admin_threshold", "lots", "Give a whole number of messages."),
        ("domain_block_admin_threshold", "9" * 40, "Give at most 1,000,000 messages."),
        ("domain_block_admin_threshold", "", "This field is required."),
        ("break_glass_review_hours", "0", "Give at least 1 hour."),
        ("break_glass_review_hours", "721", "Give at most 720 hours."),
        ("break_glass_review_hours", "1.5", "Give a whole number of hours."),
        ("flagged_release_approvers", "3", "Select a valid choice."),
        ("flagged_release_approvers", "0", "Select a valid choice."),
        ("reason", "why\x1b[31m", "control characters"),
    ],
)
def test_bad_rules_input_is_a_message_next_to_the_field_and_changes_nothing(client, admin_user, field, value, message):
    client.force_login(admin_user)
    response = client.post(reverse("oversight-rules"), {**GOOD, field: value})
    assert response.status_code == 400
    assert message in response.content.decode()
    htmx = client.post(
        reverse("oversight-rules"), {**GOOD, field: value}, headers={"HX-Request": "true", "HX-Target": "rules-form"}
    )
    assert htmx.status_code == 200 and "<html" not in htmx.content.decode()
    assert message in htmx.content.decode()
    assert selectors.approval_rules_current().domain_block_admin_threshold == 50
    assert not _rules_events().exists()


def test_changing_the_rules_needs_the_csrf_token(admin_user):
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(admin_user)
    assert strict.post(reverse("oversight-rules"), GOOD).status_code == 403
    assert not _rules_events().exists()
    strict.get(reverse("oversight-rules"))  # the form's page sets the token
    token = strict.cookies["csrftoken"].value
    assert strict.post(reverse("oversight-rules"), {**GOOD, "csrfmiddlewaretoken": token}).status_code == 302
    assert _rules_events().count() == 1


# ---- the after-review queue ----


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("role", [*ROLES, "anonymous"])
def test_only_approvers_open_the_queue_and_review(client, personas, admin_user, role, htmx):
    req = break_glass(admin_user, hours_ago=1)
    if role != "anonymous":
        client.force_login(personas[role])
    headers = {"HX-Request": "true", "HX-Target": "queue"} if htmx else {}
    shown = client.get(reverse("oversight-break-glass"), headers=headers)
    url = reverse("oversight-break-glass-review", args=[req.pk])
    reviewed = client.post(url, {"note": "checked the domain"}, headers={"HX-Request": "true"} if htmx else {})
    expected_page = {"approver": 200, "anonymous": 302}.get(role, 403)
    assert shown.status_code == expected_page
    if role == "approver":
        assert reviewed.status_code == (204 if htmx else 302)
        return
    assert reviewed.status_code == (302 if role == "anonymous" else 403)
    req.refresh_from_db()
    assert req.reviewed_at is None


def test_the_queue_lists_break_glass_actions_oldest_first_with_the_overdue_marked(client, admin_user, approver):
    fresh = break_glass(admin_user, hours_ago=2, value="fresh.example")
    old = break_glass(admin_user, hours_ago=30, value="old.example")
    ordinary = RemediationRequestFactory(
        kind=RemediationRequest.Kind.BLOCK_SENDER,
        params={"target_type": "email_domain", "value": "ordinary.example", "from_part": "both"},
        reason="approved the usual way",
        requested_by=admin_user,
    )
    rows = selectors.break_glass_unreviewed()
    assert [r.pk for r in rows] == [old.pk, fresh.pk]
    assert [r.overdue for r in rows] == [True, False]
    assert ordinary.pk not in [r.pk for r in rows]
    client.force_login(approver)
    page = client.get(reverse("oversight-break-glass")).content.decode()
    assert page.index("old.example") < page.index("fresh.example")
    assert "ordinary.example" not in page
    assert page.count('badge badge-warn">overdue') == 1
    assert "Mark reviewed" in page


def test_a_review_is_recorded_audited_and_moves_below(client, admin_user, approver):
    req = break_glass(admin_user, hours_ago=30)
    client.force_login(approver)
    response = client.post(
        reverse("oversight-break-glass-review", args=[req.pk]), {"note": "Domain was spoofing us; block is right"}
    )
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.reviewed_by == approver and req.reviewed_at is not None
    assert req.review_note == "Domain was spoofing us; block is right"
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_REVIEWED)
    assert (event.actor_label, event.target_id) == ("carol", str(req.pk))
    assert selectors.break_glass_unreviewed() == []
    assert selectors.break_glass_overdue_count() == 0
    page = client.get(reverse("oversight-break-glass")).content.decode()
    assert "Domain was spoofing us" in page and "No break-glass action is waiting for review." in page


def test_an_admins_break_glass_block_lands_in_the_queue_and_the_audit_trail(client, mimecast_env, admin_user, approver):
    values = {
        "kind": RemediationRequest.Kind.BLOCK_SENDER,
        "params": {"target_type": "email_address", "value": "wave@phish.example", "from_part": "both"},
        "reason": "Active phishing wave",
        "ticket_id": "",
    }
    draft = remediation.remediation_request_create(actor=admin_user, values=values)
    remediation.remediation_request_preview(actor=admin_user, request_id=draft.pk)
    remediation.remediation_request_break_glass(
        actor=admin_user, request_id=draft.pk, reason="Users are clicking it right now; no approver on shift"
    )
    carried = AuditEvent.objects.get(action=AuditAction.REMEDIATION_BREAK_GLASS)
    assert (carried.actor_label, carried.target_id) == ("erin", str(draft.pk))
    client.force_login(approver)
    page = client.get(reverse("oversight-break-glass")).content.decode()
    assert "wave@phish.example" in page and f'id="break-glass-{draft.pk}"' in page
    client.post(reverse("oversight-break-glass-review", args=[draft.pk]), {"note": "Checked the wave; block is right"})
    reviewed = AuditEvent.objects.get(action=AuditAction.REMEDIATION_REVIEWED)
    assert (reviewed.actor_label, reviewed.target_id) == ("carol", str(draft.pk))
    assert carried.seq < reviewed.seq


def test_an_empty_review_note_is_a_message_and_reviews_nothing(client, admin_user, approver):
    req = break_glass(admin_user, hours_ago=3)
    client.force_login(approver)
    url = reverse("oversight-break-glass-review", args=[req.pk])
    response = client.post(url, {"note": "   "})
    assert response.status_code == 400
    assert "Write what you checked" in response.content.decode()
    response = client.post(url, {"note": "ok"})
    assert response.status_code == 400
    assert "Write what you checked" in response.content.decode()
    htmx = client.post(url, {"note": "x" * 2001}, headers={"HX-Request": "true", "HX-Target": "queue"})
    assert htmx.status_code == 200 and "at most 2000 characters" in htmx.content.decode()
    req.refresh_from_db()
    assert req.reviewed_at is None
    assert not AuditEvent.objects.filter(action=AuditAction.REMEDIATION_REVIEWED).exists()


def test_a_second_review_is_refused_with_a_message_and_keeps_the_first(client, admin_user, approver):
    req = break_glass(admin_user, hours_ago=30)
    other = UserFactory(username="grace", roles=["approver"])
    client.force_login(approver)
    url = reverse("oversight-break-glass-review", args=[req.pk])
    client.post(url, {"note": "First look: fine"})
    client.force_login(other)
    response = client.post(url, {"note": "Second look"}, follow=True)
    assert response.status_code == 200
    assert "not an unreviewed break-glass action" in response.content.decode()
    req.refresh_from_db()
    assert (req.reviewed_by, req.review_note) == (approver, "First look: fine")
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_REVIEWED).count() == 1


def test_whoever_carried_it_out_cannot_review_it(client, db):
    both = UserFactory(username="frank", roles=["admin", "approver"])
    req = break_glass(both, hours_ago=30)
    client.force_login(both)
    page = client.get(reverse("oversight-break-glass")).content.decode()
    assert "yours: another approver reviews it" in page
    response = client.post(reverse("oversight-break-glass-review", args=[req.pk]), {"note": "looks fine to me"})
    assert response.status_code == 403
    req.refresh_from_db()
    assert req.reviewed_at is None


@pytest.mark.parametrize("request_id", ["ordinary", 999999, 10**30])
def test_reviewing_what_is_not_a_break_glass_action_is_not_found(client, admin_user, approver, request_id):
    if request_id == "ordinary":
        request_id = RemediationRequestFactory(
            kind=RemediationRequest.Kind.BLOCK_SENDER, reason="approved the usual way", requested_by=admin_user
        ).pk
    client.force_login(approver)
    response = client.post(reverse("oversight-break-glass-review", args=[request_id]), {"note": "checked"})
    assert response.status_code == 404


def test_a_review_needs_the_csrf_token(admin_user, approver):
    req = break_glass(admin_user, hours_ago=30)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(approver)
    assert strict.post(reverse("oversight-break-glass-review", args=[req.pk]), {"note": "checked"}).status_code == 403
    req.refresh_from_db()
    assert req.reviewed_at is None


# ---- the home flag ----

FLAG = "break-glass action"


@pytest.mark.parametrize("role", ["approver", "admin"])
def test_the_flag_shows_on_home_once_a_review_is_overdue_and_not_before(client, personas, admin_user, role):
    req = break_glass(admin_user, hours_ago=23)
    client.force_login(personas[role])
    assert 'id="break-glass-flag"' not in client.get(reverse("home")).content.decode()
    RemediationRequest.objects.filter(pk=req.pk).update(decided_at=timezone.now() - timedelta(hours=25))
    page = client.get(reverse("home")).content.decode()
    assert "1 break-glass action not reviewed for more than 24 h" in page
    # The approver goes to the queue to review; the admin to the rules page, which lists what waits.
    target = reverse("oversight-break-glass") if role == "approver" else reverse("oversight-rules") + "#break-glass"
    assert f'href="{target}"' in page
    assert client.get(target.split("#")[0]).status_code == 200


def test_the_flag_counts_only_unreviewed_overdue_actions_and_follows_the_rules(admin_user, approver):
    now = timezone.now()
    break_glass(admin_user, hours_ago=30, value="one.example")
    break_glass(admin_user, hours_ago=26, value="two.example")
    break_glass(admin_user, hours_ago=30, value="done.example", reviewed_by=approver, reviewed_at=now)
    break_glass(admin_user, hours_ago=5, value="recent.example")
    assert selectors.break_glass_overdue_count(now) == 2
    assert selectors.break_glass_overdue_count(now + timedelta(hours=20)) == 3
    assert selectors.break_glass_overdue_count(now - timedelta(hours=3)) == 1
    approval_rules_update(
        actor=admin_user,
        values={"flagged_release_approvers": 2, "domain_block_admin_threshold": 50, "break_glass_review_hours": 4},
    )
    assert selectors.break_glass_overdue_count(now) == 3


@pytest.mark.parametrize("role", ["analyst", "auditor"])
def test_roles_outside_the_review_get_no_flag(client, personas, admin_user, role):
    break_glass(admin_user, hours_ago=48)
    client.force_login(personas[role])
    page = client.get(reverse("home")).content.decode()
    assert FLAG not in page
    assert reverse("oversight-break-glass") not in page


def test_the_flag_uses_the_hours_the_admin_set(client, admin_user, approver):
    break_glass(admin_user, hours_ago=10)
    client.force_login(approver)
    assert FLAG not in client.get(reverse("home")).content.decode()
    approval_rules_update(
        actor=admin_user,
        values={"flagged_release_approvers": 2, "domain_block_admin_threshold": 50, "break_glass_review_hours": 8},
    )
    assert "1 break-glass action not reviewed for more than 8 h" in client.get(reverse("home")).content.decode()
