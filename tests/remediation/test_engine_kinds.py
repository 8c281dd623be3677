"""Every kind in the registry goes through the one engine: drafted, previewed against the simulator,
submitted, approved by somebody else and carried out by a real Celery worker (Redis, PostgreSQL,
the simulator), each item's outcome recorded with its audit event and exactly one Mimecast effect;
then, where the kind has one, its undo goes the same way."""

import pytest
from django.urls import reverse

from investigations.models import AuditAction, AuditEvent, RemediationItem, RemediationRequest
from investigations.remediation import services
from investigations.remediation.kinds import KINDS
from tests.factories import UserFactory
from tests.polling import poll_until
from tests.remediation.samples import ITEM_KINDS, effects_of, values
from tests.remediation.support import CARRIED_OUT, audited_once_confirmed

State = RemediationRequest.State
WORKER_SETTINGS = {"REMEDIATION_POLL_INTERVAL_SECONDS": 1, "REMEDIATION_RETRY_BASE_MS": 200}


@pytest.fixture
def people(transactional_db, analyst, approver, second_approver, admin_user):
    return {"analyst": analyst, "approver": approver, "second": second_approver, "admin": admin_user}


def wait_for_final(request_id, timeout=60):
    return poll_until(
        lambda: RemediationRequest.objects.get(pk=request_id), lambda r: r.is_final, timeout=timeout, interval=0.25
    )


def approve_fully(req, people):
    """Every approval the rules on it ask for, each by a different person (an admin when asked)."""
    deciders = [people["approver"], people["second"]]
    if req.admin_approval_required:
        deciders[req.approvals_required - 1] = people["admin"]
    for decider in deciders[: req.approvals_required]:
        services.remediation_request_approve(actor=decider, request_id=req.pk, reason="Checked, go ahead")
    req.refresh_from_db()
    return req


def carry_out(requester, kind_values, people):
    req = services.remediation_request_create(actor=requester, values=kind_values)
    req = services.remediation_request_preview(actor=requester, request_id=req.pk)
    assert req.previewed_at is not None and isinstance(req.preview.get("errors"), list)
    req = services.remediation_request_submit(actor=requester, request_id=req.pk)
    items = list(req.items.order_by("position"))
    assert items and all(i.state == RemediationItem.State.PENDING for i in items)
    approve_fully(req, people)
    return wait_for_final(req.pk)


def assert_every_item_done_once(simulator, req):
    items = list(req.items.order_by("position"))
    assert items, req
    for item in items:
        assert item.state == RemediationItem.State.DONE, (item.key, item.error)
        assert item.attempts == 1 and not item.adopted
        assert len(effects_of(simulator, req, item)) == 1, (item.key, effects_of(simulator, req, item))
    done = AuditEvent.objects.filter(
        action=AuditAction.REMEDIATION_ITEM_DONE, target_type="remediationrequest", target_id=str(req.pk)
    )
    assert done.count() == len(items)
    return items


def test_the_registry_holds_every_kind_the_model_names():
    assert set(KINDS) == set(RemediationRequest.Kind.values)
    for kind in KINDS.values():
        # Each kind's form resolves, and an undo kind is a kind of the registry.
        assert kind.form and (not kind.undo_kind or kind.undo_kind in KINDS)
        assert kind.incident or (kind.items and kind.do_item and kind.confirm_item), kind.name


@pytest.mark.parametrize("kind", ITEM_KINDS)
def test_each_kind_is_carried_out_by_the_worker_item_by_item_and_undone_where_it_can_be(
    worker, people, mimecast_env, kind
):
    simulator = mimecast_env
    req = carry_out(people["analyst"], values(kind, simulator), people)
    assert req.state == State.SUCCEEDED, (req.failure_reason, [(i.key, i.error) for i in req.items.all()])
    items = assert_every_item_done_once(simulator, req)
    assert CARRIED_OUT | {AuditAction.REMEDIATION_ITEM_DONE, AuditAction.REMEDIATION_CONFIRMED} <= set(
        audited_once_confirmed(req)
    )
    spec = KINDS[kind]
    if not spec.undo_kind:
        with pytest.raises(services.RemediationError):
            services.remediation_request_undo(actor=people["analyst"], request_id=req.pk)
        return
    undo = services.remediation_request_undo(actor=people["analyst"], request_id=req.pk)
    assert (undo.kind, undo.restore_of_id, undo.state) == (spec.undo_kind, req.pk, State.DRAFT)
    # Only one undo at a time.
    with pytest.raises(services.RemediationError):
        services.remediation_request_undo(actor=people["analyst"], request_id=req.pk)
    undo = services.remediation_request_preview(actor=people["analyst"], request_id=undo.pk)
    undo = services.remediation_request_submit(actor=people["analyst"], request_id=undo.pk)
    approve_fully(undo, people)
    undo = wait_for_final(undo.pk)
    assert undo.state == State.SUCCEEDED, (undo.failure_reason, [(i.key, i.error) for i in undo.items.all()])
    assert_every_item_done_once(simulator, undo)
    # The undo acted on what the request created, by Mimecast id.
    created = {i.mimecast_id for i in items if i.mimecast_id}
    assert created and created == {i.key for i in undo.items.all()}


@pytest.mark.parametrize("kind", ITEM_KINDS)
def test_each_kind_is_started_from_the_picker_with_its_own_form(client, people, kind):
    analyst = people["analyst"]
    client.force_login(analyst)
    picker = client.get(reverse("remediation-new"))
    assert picker.status_code == 200
    assert f'id="kind-{kind}"' in picker.content.decode()
    page = client.get(reverse("remediation-new"), {"kind": kind})
    assert page.status_code == 200
    form_class = type(page.context["form"])
    assert f"{form_class.__module__}.{form_class.__name__}" == KINDS[kind].form
    # Bad input is a message on the form, never a 500, and creates nothing.
    response = client.post(f"{reverse('remediation-new')}?kind={kind}", {"reason": "x"})
    assert response.status_code == 400
    assert not RemediationRequest.objects.filter(kind=kind).exists()


def test_an_unknown_kind_gets_the_picker_with_a_message(client, people):
    client.force_login(people["analyst"])
    response = client.get(reverse("remediation-new"), {"kind": "wipe_everything"})
    assert response.status_code == 400
    assert "There is no such kind of request" in response.content.decode()


def test_an_auditor_may_start_no_kind(client, transactional_db):
    client.force_login(UserFactory(username="dave", roles=["auditor"]))
    assert client.get(reverse("remediation-new")).status_code == 403
    assert client.get(reverse("remediation-new"), {"kind": "block_sender"}).status_code == 403
