"""Remediation pages: permissions for every URL and persona (htmx included), bad input, the
decision form with fresh authentication, and self-approval refused along every path."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from investigations.accounts.services import FRESH_AUTH_SESSION_KEY, decisions_locked_until
from investigations.models import AuditAction, AuditEvent, RemediationRequest
from tests.factories import PASSWORD, UserFactory
from tests.remediation.support import hash_values, pending_request, stale_client

State = RemediationRequest.State
PERSONAS = ["anonymous", "analyst", "approver", "auditor", "admin", "outsider"]
READERS = {"analyst", "approver"}
# Admins carry out break-glass actions and decide what the approval rules reserve for an admin, so
# they open the request pages and the queue; a plain request's decision page stays the approvers'.
ENGINE_USERS = READERS | {"admin"}


@pytest.fixture
def someone_elses_request(second_analyst):
    return pending_request(second_analyst)


def client_for(client, personas, persona):
    if persona != "anonymous":
        client.force_login(personas[persona])
    return client


def pages(req):
    return {
        "remediation-list": (reverse("remediation-list"), ENGINE_USERS),
        "remediation-new": (reverse("remediation-new"), ENGINE_USERS),
        "remediation-detail": (reverse("remediation-detail", args=[req.pk]), ENGINE_USERS),
        "remediation-approvals": (reverse("remediation-approvals"), {"approver", "admin"}),
        "remediation-decide": (reverse("remediation-decide", args=[req.pk]), {"approver"}),
    }


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_page_checks_the_role(client, personas, someone_elses_request, persona, htmx):
    client = client_for(client, personas, persona)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for name, (url, allowed) in pages(someone_elses_request).items():
        response = client.get(url, **headers)
        if persona == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"], name
        elif persona in allowed:
            assert response.status_code == 200, name
        else:
            assert response.status_code == 403, name


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("persona", PERSONAS)
def test_every_post_checks_the_role_and_the_requester(client, personas, someone_elses_request, persona, htmx):
    """Nobody but the requester may change, preview, submit or cancel; nobody but an approver decides."""
    client = client_for(client, personas, persona)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    req = someone_elses_request
    for name in ("remediation-edit", "remediation-preview", "remediation-submit", "remediation-cancel"):
        response = client.post(reverse(name, args=[req.pk]), hash_values(), **headers)
        expected = 302 if persona == "anonymous" else 403
        assert response.status_code == expected, (name, persona)
    response = client.post(
        reverse("remediation-decide", args=[req.pk]),
        {"decision": "approve", "reason": "fine by me", "version": req.version},
        **headers,
    )
    if persona == "anonymous":
        assert response.status_code == 302
    elif persona == "approver":
        assert response.status_code in (204, 302)
    else:
        assert response.status_code == 403
    req.refresh_from_db()
    assert (
        req.state == (State.APPROVED if persona == "approver" else State.PENDING_APPROVAL) or req.state == State.QUEUED
    )


def test_unknown_requests_are_404(client, analyst):
    client.force_login(analyst)
    assert client.get(reverse("remediation-detail", args=[999999])).status_code == 404


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (
            {"kind": "remediate", "search_by": "hash", "search_value": "not-a-hash", "reason": "long enough reason"},
            "search_value",
        ),
        ({"kind": "remediate", "search_by": "", "search_value": "", "reason": "long enough reason"}, "search_by"),
        (
            {
                "kind": "remediate",
                "search_by": "url",
                "search_value": "javascript:alert(1)",
                "reason": "long enough reason",
            },
            "search_value",
        ),
        (
            {
                "kind": "remediate",
                "search_by": "message_id",
                "search_value": "no spaces allowed",
                "reason": "long enough reason",
            },
            "search_value",
        ),
        ({"kind": "remediate", "search_by": "hash", "search_value": "a" * 64, "reason": "short"}, "reason"),
        (
            {
                "kind": "remediate",
                "search_by": "hash",
                "search_value": "a" * 64,
                "reason": "long enough reason",
                "start": "2026-02-01T00:00",
                "end": "2026-01-01T00:00",
            },
            "end",
        ),
        (
            {
                "kind": "remediate",
                "search_by": "hash",
                "search_value": "a" * 64,
                "reason": "long enough reason",
                "start": "yesterday",
            },
            "start",
        ),
        ({"kind": "restore", "reason": "long enough reason"}, "restore_code"),
        ({"kind": "restore", "restore_of": "424242", "reason": "long enough reason"}, "restore_of"),
        ({"kind": "restore", "restore_of": "-1", "reason": "long enough reason"}, "restore_of"),
        ({"kind": "wipe", "reason": "long enough reason"}, "kind"),
    ],
)
def test_bad_input_gets_a_message_next_to_the_field(client, analyst, form, field):
    client.force_login(analyst)
    response = client.post(reverse("remediation-new"), form)
    assert response.status_code == 400
    assert field in response.context["form"].errors
    assert f'id="id_{field}-error"' in response.content.decode() or field in response.context["form"].errors
    assert not RemediationRequest.objects.exists()


def test_the_form_is_prefilled_from_get_parameters(client, analyst):
    client.force_login(analyst)
    form = client.get(
        reverse("remediation-new"), {"file_hash": "b" * 64, "from": "x@evil.test", "to": "me@corp.test"}
    ).context["form"]
    assert form.initial["search_by"] == "hash" and form.initial["search_value"] == "b" * 64
    assert form.initial["sender"] == "x@evil.test" and form.initial["recipient"] == "me@corp.test"
    form = client.get(reverse("remediation-new"), {"message_id": "<abc@host>"}).context["form"]
    assert form.initial["search_by"] == "message_id"
    form = client.get(reverse("remediation-new"), {"url": "https://evil.test/x"}).context["form"]
    assert form.initial["search_by"] == "url"


def test_the_list_filters_by_state_requester_and_date(client, analyst, second_analyst):
    mine = pending_request(analyst)
    theirs = pending_request(second_analyst)
    RemediationRequest.objects.filter(pk=theirs.pk).update(state=State.CANCELLED)
    client.force_login(analyst)
    rows = client.get(reverse("remediation-list"), {"state": "pending_approval"}).context["rows"]
    assert [r.pk for r in rows] == [mine.pk]
    rows = client.get(reverse("remediation-list"), {"requester": "bob"}).context["rows"]
    assert [r.pk for r in rows] == [theirs.pk]
    today = timezone.localdate().isoformat()
    assert len(client.get(reverse("remediation-list"), {"date_from": today, "date_to": today}).context["rows"]) == 2
    assert (
        client.get(reverse("remediation-list"), {"date_from": "2001-01-01", "date_to": "2001-01-02"}).context["rows"]
        == []
    )
    response = client.get(reverse("remediation-list"), {"requester": "nobody-by-that-name", "date_from": "garbage"})
    assert response.status_code == 400 and set(response.context["form"].errors) == {"requester", "date_from"}


def test_the_approval_queue_shows_preview_requester_reason_and_age(client, approver, someone_elses_request):
    client.force_login(approver)
    page = client.get(reverse("remediation-approvals")).content.decode()
    assert "bob" in page and someone_elses_request.reason in page and "Decide" in page
    assert "minute" in page  # the age


def test_the_request_page_polls_until_final_and_serves_the_partial_to_htmx(client, analyst):
    req = pending_request(analyst)
    client.force_login(analyst)
    page = client.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in page
    partial = client.get(reverse("remediation-detail", args=[req.pk]), HTTP_HX_REQUEST="true").content.decode()
    assert partial.lstrip().startswith('<div id="rem-live"') and "<html" not in partial
    RemediationRequest.objects.filter(pk=req.pk).update(state=State.SUCCEEDED)
    assert (
        "hx-trigger"
        not in client.get(reverse("remediation-detail", args=[req.pk]), HTTP_HX_REQUEST="true").content.decode()
    )


# -------------------------------------------------------------------------- fresh authentication


def test_a_stale_authentication_gets_the_password_prompt_before_the_approval_counts(
    client, approver, someone_elses_request
):
    client.force_login(approver)
    stale_client(client)
    url = reverse("remediation-decide", args=[someone_elses_request.pk])
    version = someone_elses_request.version
    assert 'id="fresh-auth"' in client.get(url).content.decode()
    response = client.post(url, {"decision": "approve", "reason": "looks bad", "version": version})
    assert response.status_code == 400 and "password" in response.context["form"].errors
    response = client.post(
        url, {"decision": "approve", "reason": "looks bad", "password": "wrong-password", "version": version}
    )
    assert response.status_code == 400 and "not correct" in str(response.context["form"].errors["password"])
    someone_elses_request.refresh_from_db()
    assert someone_elses_request.state == State.PENDING_APPROVAL
    response = client.post(
        url, {"decision": "approve", "reason": "looks bad", "password": PASSWORD, "version": version}
    )
    assert response.status_code == 302
    someone_elses_request.refresh_from_db()
    assert someone_elses_request.approved_by == approver
    assert FRESH_AUTH_SESSION_KEY in client.session
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    assert event.data["fresh_authentication_at"] == client.session[FRESH_AUTH_SESSION_KEY]
    assert someone_elses_request.approver_authenticated_at.isoformat() == client.session[FRESH_AUTH_SESSION_KEY]


def test_a_fresh_sign_in_needs_no_password(client, approver, someone_elses_request):
    client.force_login(approver)
    url = reverse("remediation-decide", args=[someone_elses_request.pk])
    assert 'id="fresh-auth"' not in client.get(url).content.decode()
    response = client.post(
        url, {"decision": "reject", "reason": "not malicious", "version": someone_elses_request.version}
    )
    assert response.status_code == 302
    someone_elses_request.refresh_from_db()
    assert someone_elses_request.state == State.REJECTED and someone_elses_request.rejected_by == approver


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_on_a_request_changed_since_the_page_opened_is_refused(
    client, approver, someone_elses_request, decision
):
    """The decide page carries the request's version; approve and reject both refuse a stale one."""
    client.force_login(approver)
    url = reverse("remediation-decide", args=[someone_elses_request.pk])
    stale = someone_elses_request.version
    RemediationRequest.objects.filter(pk=someone_elses_request.pk).update(version=stale + 1)
    response = client.post(url, {"decision": decision, "reason": "looked at it", "version": stale}, follow=True)
    assert "no longer waiting for approval" in response.content.decode()
    someone_elses_request.refresh_from_db()
    assert someone_elses_request.state == State.PENDING_APPROVAL
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.REMEDIATION_APPROVED, AuditAction.REMEDIATION_REJECTED],
        target_id=str(someone_elses_request.pk),
    ).exists()


def _stale(client, user):
    """Both the session's proof and the user's last sign-in anywhere are old."""
    stale_client(client)
    type(user).objects.filter(pk=user.pk).update(last_login=timezone.now() - timedelta(hours=1))


def _decide(client, req, **fields):
    data = {"decision": "approve", "reason": "looks bad", "version": req.version, **fields}
    return client.post(reverse("remediation-decide", args=[req.pk]), data)


def test_a_sign_in_elsewhere_does_not_make_an_idle_session_fresh(client, approver, someone_elses_request, settings):
    settings.FRESH_AUTH_MAX_AGE_SECONDS = 30
    client.force_login(approver)
    _stale(client, approver)
    # The same approver signs in from another browser: that proves nothing about the idle session.
    elsewhere = Client()
    response = elsewhere.post(reverse("login"), {"username": approver.username, "password": PASSWORD})
    assert response.status_code == 302
    approver.refresh_from_db()
    assert timezone.now() - approver.last_login < timedelta(seconds=30)
    url = reverse("remediation-decide", args=[someone_elses_request.pk])
    assert 'id="fresh-auth"' in client.get(url).content.decode()
    response = _decide(client, someone_elses_request)
    assert response.status_code == 400 and "password" in response.context["form"].errors
    assert RemediationRequest.objects.get(pk=someone_elses_request.pk).state == State.PENDING_APPROVAL
    # The password typed in this session is its proof, and the audit records that time.
    response = _decide(client, someone_elses_request, password=PASSWORD)
    assert response.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    proof = client.session[FRESH_AUTH_SESSION_KEY]
    assert event.data["fresh_authentication_at"] == proof != approver.last_login.isoformat()


def test_the_audit_records_this_sessions_sign_in_not_the_latest_anywhere(client, approver, someone_elses_request):
    client.force_login(approver)
    signed_in_here = client.session[FRESH_AUTH_SESSION_KEY]
    later = timezone.now() + timedelta(seconds=5)
    type(approver).objects.filter(pk=approver.pk).update(last_login=later)
    assert _decide(client, someone_elses_request).status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.REMEDIATION_APPROVED)
    assert event.data["fresh_authentication_at"] == signed_in_here != later.isoformat()


def test_wrong_passwords_at_the_prompt_lock_that_approvers_decisions_only(
    client, approver, someone_elses_request, settings
):
    colleague = UserFactory(username="grace", roles=["approver"])
    client.force_login(approver)
    _stale(client, approver)
    wrong = [
        _decide(client, someone_elses_request, password="wrong-password").status_code
        for _ in range(settings.AXES_FAILURE_LIMIT + 3)
    ]
    # A colleague behind the same address still signs in.
    other = Client()
    response = other.post(reverse("login"), {"username": "grace", "password": PASSWORD})
    assert response.status_code == 302, response.content.decode()[:500]
    # The approver who typed them is told, and locked: even the right password does not decide now.
    assert wrong == [400] * len(wrong)
    response = _decide(client, someone_elses_request, password=PASSWORD)
    assert response.status_code == 400 and "decisions are locked" in response.content.decode()
    assert RemediationRequest.objects.get(pk=someone_elses_request.pk).state == State.PENDING_APPROVAL
    assert AuditEvent.objects.filter(action=AuditAction.REAUTH_FAILED, actor_id=str(approver.pk)).count() == (
        settings.AXES_FAILURE_LIMIT
    )
    assert AuditEvent.objects.filter(action=AuditAction.DECISIONS_LOCKED, actor_id=str(approver.pk)).count() == 1
    # The colleague decides.
    response = _decide(other, someone_elses_request, decision="reject", reason="not malicious")
    assert response.status_code == 302
    assert RemediationRequest.objects.get(pk=someone_elses_request.pk).rejected_by == colleague
    # The lock lifts after the cool-off.
    after = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=1)
    assert decisions_locked_until(user=approver, now=after) is None
    assert decisions_locked_until(user=approver) is not None


def test_a_right_password_resets_the_count_of_wrong_ones(client, approver, analyst, settings):
    client.force_login(approver)
    for _ in range(2):
        req = pending_request(analyst)
        _stale(client, approver)
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            assert _decide(client, req, password="wrong-password").status_code == 400
        assert _decide(client, req, password=PASSWORD).status_code == 302
        assert RemediationRequest.objects.get(pk=req.pk).approved_by == approver
    assert decisions_locked_until(user=approver) is None


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_a_decision_without_the_pages_version_is_refused(client, approver, someone_elses_request, decision):
    """The version is the stale-page check: a hand-made POST cannot leave it out."""
    client.force_login(approver)
    url = reverse("remediation-decide", args=[someone_elses_request.pk])
    response = client.post(url, {"decision": decision, "reason": "hand-made post"})
    assert response.status_code == 400 and "version" in response.context["form"].errors
    assert "out of date" in response.content.decode()
    someone_elses_request.refresh_from_db()
    assert someone_elses_request.state == State.PENDING_APPROVAL and someone_elses_request.decided_at is None


def test_the_reject_button_asks_for_confirmation(client, approver, someone_elses_request):
    client.force_login(approver)
    page = client.get(reverse("remediation-decide", args=[someone_elses_request.pk])).content.decode()
    assert 'id="reject" data-confirm="Reject request' in page
    assert 'src="/static/js/confirm.js"' in page


# ---------------------------------------------------------------------------------- editing


def test_the_edit_form_sends_a_pending_remediate_request_back_to_draft(client, analyst, mimecast_env):
    req = pending_request(analyst)
    client.force_login(analyst)
    url = reverse("remediation-edit", args=[req.pk])
    assert client.get(url).status_code == 200
    form = {"kind": "remediate", "search_by": "hash", "search_value": "c" * 64, "reason": "A different hash now"}
    response = client.post(url, form)
    assert response.status_code == 302
    req.refresh_from_db()
    assert req.state == State.DRAFT and req.search_value == "c" * 64 and req.previewed_at is not None
    assert AuditEvent.objects.get(action=AuditAction.REMEDIATION_EDITED).data["approval_voided"] is True


# ---------------------------------------------------------------------------- self-approval


@pytest.fixture
def dual_role(db):
    return UserFactory(username="frank", roles=["analyst", "approver"])


def test_it_hides_the_approve_button_from_the_requester(client, dual_role):
    req = pending_request(dual_role)
    client.force_login(dual_role)
    detail = client.get(reverse("remediation-detail", args=[req.pk])).content.decode()
    assert 'id="decide-link"' not in detail and "Another approver must decide" in detail
    queue = client.get(reverse("remediation-approvals")).content.decode()
    assert reverse("remediation-decide", args=[req.pk]) not in queue and "yours" in queue
    assert client.get(reverse("remediation-decide", args=[req.pk])).status_code == 403


@pytest.mark.parametrize("htmx", [False, True])
def test_it_refuses_a_direct_self_approval_post(client, dual_role, htmx):
    req = pending_request(dual_role)
    client.force_login(dual_role)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    for decision in ("approve", "reject"):
        response = client.post(
            reverse("remediation-decide", args=[req.pk]),
            {"decision": decision, "reason": "my own", "password": PASSWORD},
            **headers,
        )
        assert response.status_code == 403
    req.refresh_from_db()
    assert req.state == State.PENDING_APPROVAL and req.approved_by is None and req.rejected_by is None
    assert AuditEvent.objects.filter(action=AuditAction.REMEDIATION_APPROVAL_REFUSED).count() == 2


def test_there_is_no_django_admin_to_approve_through(client, admin_user):
    from django.conf import settings

    assert "django.contrib.admin" not in settings.INSTALLED_APPS
    client.force_login(admin_user)
    assert client.get("/admin/").status_code == 404
