"""The evidence export of a case: the JSON bundle and its offline verifier, and the printable report.

The bundle's events are hashed by the database's chaining trigger; the verifier recomputes every
hash with nothing but the standard library, as `manage.py verify_bundle` and as the standalone
script run by the system's own Python, and refuses the file after any one byte of an event changes."""

import json
import os
import shutil
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from investigations.audit.chain import audit_checkpoint_write
from investigations.audit.services import audit_record
from investigations.cases.services import case_create, evidence_add
from investigations.core import bundle_verify
from investigations.core.context import audit_context
from investigations.models import (
    CHAIN_FIELDS,
    AuditAction,
    AuditEvent,
    Evidence,
    Investigation,
    RemediationItem,
    RemediationRequest,
    RemediationStep,
    event_hash,
)
from tests.browser.xss_vectors import xss_vectors
from tests.factories import RemediationRequestFactory

SCRIPT = Path(settings.BASE_DIR) / "scripts" / "verify_bundle.py"
MODULE = Path(bundle_verify.__file__)
# The system's Python, not the portal's virtualenv: the script must need nothing installed.
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'
# Text and payloads that exercise every rule of the hash's text form.
AWKWARD_REASON = 'quotes " and \\ backslash, CR\r LF\n tab\t esc\x1b[31m del\x7f Zoë 東京 🦊 \u2028'
AWKWARD_DATA = {
    "é": 1,
    "zz": [1, 2.5, None, True, False],
    "a": {"small": 1e-07, "big": 1e20, "sum": 0.1 + 0.2, "neg": -0.0, "int": 10**25},
    "text": "line\nbreak \u0001 <b>",
}


@pytest.fixture
def case(analyst, second_analyst):
    case = case_create(
        actor=analyst, values={"title": f"Invoice wave {XSS}", "reason": "Finance phishing wave", "ticket_id": "INC-9"}
    )
    case.members.add(second_analyst)
    evidence_add(
        actor=analyst, case_id=case.pk, kind="sender", values=["billing@invoices-example.test"], note=f"Sender {XSS}"
    )
    evidence_add(actor=analyst, case_id=case.pk, kind="domain", values=["invoices-example.test"], note="look-alike")
    return case


@pytest.fixture
def bulk_request(case, analyst, approver):
    """A finished bulk request of the case: one mailbox removed, one failed with Mimecast's reason."""
    now = timezone.now()
    req = RemediationRequestFactory(
        kind=RemediationRequest.Kind.REMEDIATE_MESSAGES,
        state=RemediationRequest.State.FAILED,
        investigation=case,
        params={"targets": [{"mailbox": "ann@corp.test", "message_id": "<m1@x>"}]},
        requested_by=analyst,
        approved_by=approver,
        at=now,
        finished=True,
        failure_reason="1 of 2 items failed",
    )
    RemediationItem.objects.create(
        request=req,
        position=1,
        key="ann@corp.test|<m1@x>",
        label="ann@corp.test — Invoice",
        state="done",
        result={"outcome": "removed", "detail": "removed (1 copy)"},
        updated_at=now,
    )
    RemediationItem.objects.create(
        request=req,
        position=2,
        key="bob@corp.test|<m1@x>",
        state="failed",
        error=f"Mailbox is on legal hold {XSS}",
        result={"outcome": "failed"},
        updated_at=now,
    )
    RemediationStep.objects.create(request=req, created_at=now, actor_label="alice", action="requested")
    with audit_context(case_id=case.pk):
        audit_record(actor=analyst, action=AuditAction.REMEDIATION_REQUESTED, target=req, reason=AWKWARD_REASON)
        audit_record(actor=analyst, action=AuditAction.SEARCH_HASH, target=("hash", "ab" * 32), data=AWKWARD_DATA)
    # The approver and the worker act outside the case's context: included because they target its request.
    audit_record(actor=approver, action=AuditAction.REMEDIATION_APPROVED, target=req, reason="ok")
    audit_record(actor=None, action=AuditAction.REMEDIATION_ITEM_FAILED, target=req, data={"position": 2})
    return req


@pytest.fixture
def other_work(second_analyst):
    """Events of another case and of no case: none of them belongs in the bundle."""
    other = case_create(actor=second_analyst, values={"title": "Other", "reason": "Unrelated work", "ticket_id": ""})
    audit_record(actor=second_analyst, action=AuditAction.SEARCH_TRACK_TRACE, target=None, data={"q": "x"})
    return other


def _export(client, user, case):
    client.force_login(user)
    response = client.get(reverse("case-export-json", args=[case.pk]))
    assert response.status_code == 200, response.content[:500]
    return response


@pytest.fixture
def bundle_file(client, analyst, case, bulk_request, other_work, tmp_path):
    response = _export(client, analyst, case)
    path = tmp_path / "bundle.json"
    path.write_bytes(response.content)
    return path


def _events_of(case, request):
    """The case's events as the case page's reader would list them, plus its request's."""
    return AuditEvent.objects.filter(
        Q(data__case=case.pk)
        | Q(target_type="investigation", target_id=str(case.pk))
        | Q(target_type="remediationrequest", target_id=str(request.pk))
    ).order_by("seq")


# ------------------------------------------------------------------------------------ the bundle


def test_the_bundle_holds_the_case_its_evidence_requests_and_events(client, analyst, case, bulk_request, other_work):
    response = _export(client, analyst, case)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="case-{case.pk}-')
    bundle = json.loads(response.content)

    assert bundle["format"] == "mimecast-portal-case-bundle" and bundle["version"] == 1
    assert bundle["exported_by"] == "alice"
    assert bundle["case"]["title"] == case.title and bundle["case"]["ticket_id"] == "INC-9"
    assert bundle["case"]["owner"] == "alice" and bundle["case"]["members"] == ["alice", "bob"]
    assert [(e["kind"], e["value"], e["note"]) for e in bundle["evidence"]] == [
        ("sender", "billing@invoices-example.test", f"Sender {XSS}"),
        ("domain", "invoices-example.test", "look-alike"),
    ]
    [req] = bundle["requests"]
    assert (req["id"], req["kind"], req["state"], req["approved_by"]) == (
        bulk_request.pk,
        "remediate_messages",
        "failed",
        "carol",
    )
    assert [(i["key"], i["state"], i["error"]) for i in req["items"]] == [
        ("ann@corp.test|<m1@x>", "done", ""),
        ("bob@corp.test|<m1@x>", "failed", f"Mailbox is on legal hold {XSS}"),
    ]
    assert req["items"][0]["result"]["outcome"] == "removed" and req["steps"][0]["action"] == "requested"

    # Exactly the case's events, up to and including the export's own, each as the trigger hashed it.
    export_event = AuditEvent.objects.get(action=AuditAction.CASE_EXPORTED)
    expected = list(_events_of(case, bulk_request).filter(seq__lte=export_event.seq))
    assert [e["seq"] for e in bundle["events"]] == [e.seq for e in expected]
    assert bundle["events"][-1]["action"] == "case.exported" and bundle["events"][-1]["data"]["format"] == "json"
    assert bundle["chain_head"] == {"seq": export_event.seq, "hash": export_event.hash}
    assert bundle["export_event_seq"] == export_event.seq
    for doc, stored in zip(bundle["events"], expected, strict=True):
        assert set(doc) == {*CHAIN_FIELDS, "hash"}
        assert doc["hash"] == stored.hash == bundle_verify.event_hash(doc) == event_hash(stored.chain_values())
    actions = [e["action"] for e in bundle["events"]]
    assert "remediation.approved" in actions and "search.track_trace" not in actions
    assert {"proves", "does_not_prove", "event_hash"} <= set(bundle["proof"])
    assert bundle["digest"]["sha256"] == bundle_verify.bundle_digest(bundle)


def test_the_bundle_carries_the_newest_checkpoint(client, analyst, case):
    checkpoint = audit_checkpoint_write()
    bundle = json.loads(_export(client, analyst, case).content)
    assert bundle["newest_checkpoint"] == {
        "seq": checkpoint.seq,
        "hash": checkpoint.hash,
        "created_at": checkpoint.created_at,
    }


def test_the_export_is_audited_before_it_is_read(client, auditor, case):
    before = AuditEvent.objects.order_by("-seq").first().seq
    _export(client, auditor, case)
    event = AuditEvent.objects.get(seq__gt=before, action=AuditAction.CASE_EXPORTED)
    assert (event.actor_label, event.target_type, event.target_id) == ("dave", "investigation", str(case.pk))
    assert event.data == {"format": "json"}


# ------------------------------------------------------------------------------------ the verifier


def test_the_command_accepts_an_exported_bundle(bundle_file):
    bundle = json.loads(bundle_file.read_bytes())
    out = StringIO()
    call_command("verify_bundle", str(bundle_file), stdout=out)
    assert out.getvalue().strip() == f"OK: {len(bundle['events'])} events, head seq {bundle['chain_head']['seq']}"
    out = StringIO()
    call_command("verify_bundle", str(bundle_file), "--live", stdout=out)
    assert out.getvalue().startswith("OK: ")


def test_the_standalone_script_accepts_it_with_the_system_python(bundle_file, tmp_path):
    bundle = json.loads(bundle_file.read_bytes())
    expected = f"OK: {len(bundle['events'])} events, head seq {bundle['chain_head']['seq']}\n"
    clean_env = {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [SYSTEM_PYTHON, str(SCRIPT), str(bundle_file)], capture_output=True, text=True, env=clean_env
    )
    assert (result.returncode, result.stdout, result.stderr) == (0, expected, "")
    # An auditor's copy: the script and the module in a folder of their own, far from the portal.
    folder = tmp_path / "auditor"
    folder.mkdir()
    shutil.copy(SCRIPT, folder / "verify_bundle.py")
    shutil.copy(MODULE, folder / "bundle_verify.py")
    result = subprocess.run(
        [SYSTEM_PYTHON, "verify_bundle.py", str(bundle_file)], capture_output=True, text=True, env=clean_env, cwd=folder
    )
    assert (result.returncode, result.stdout) == (0, expected), result.stderr


def _event_spans(raw, bundle):
    """Where each event's object starts and ends in the file's bytes, in bundle order."""
    spans, cursor = [], raw.index(b'\n "events": [')
    for _event in bundle["events"]:
        start = raw.index(b"\n  {\n", cursor) + 3
        end = raw.index(b"\n  }", start) + 4
        spans.append((start, end))
        cursor = end
    return spans


def test_any_one_byte_changed_in_an_event_is_refused_naming_the_event(bundle_file):
    raw = bundle_file.read_bytes()
    bundle = json.loads(raw)
    assert bundle_verify.verify_bundle_bytes(raw) == (len(bundle["events"]), bundle["chain_head"]["seq"])
    spans = _event_spans(raw, bundle)
    awkward = next(i for i, e in enumerate(bundle["events"]) if e["action"] == "search.hash")
    # The first event, the one with every awkward character and number, and the export's own (the head).
    for index in sorted({0, awkward, len(spans) - 1}):
        start, end = spans[index]
        assert raw[start:end].startswith(b"{") and raw[start:end].endswith(b"}")
        for position in range(start, end):
            changed = bytearray(raw)
            changed[position] ^= 0x01
            with pytest.raises(bundle_verify.BundleError) as refused:
                bundle_verify.verify_bundle_bytes(bytes(changed))
            assert f"(#{index + 1} in the bundle)" in str(refused.value), (position, str(refused.value))


@pytest.mark.parametrize(
    ("field", "new_value"),
    [("reason", "edited"), ("hash", "f" * 64), ("data", {"format": "csv"}), ("seq", 1), ("created_at", "2020")],
)
def test_a_rewritten_field_fails_the_script_and_the_command(bundle_file, tmp_path, field, new_value):
    bundle = json.loads(bundle_file.read_bytes())
    head = bundle["events"][-1]
    head[field] = new_value
    bundle["digest"]["sha256"] = bundle_verify.bundle_digest(bundle)  # a forger would recompute it
    forged = tmp_path / "forged.json"
    forged.write_bytes(bundle_verify.bundle_bytes(bundle))
    result = subprocess.run([SYSTEM_PYTHON, str(SCRIPT), str(forged)], capture_output=True, text=True)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("FAILED: event seq=")
    with pytest.raises(CommandError, match="FAILED: event seq="):
        call_command("verify_bundle", str(forged))


@pytest.mark.parametrize(
    "damage",
    ["case-title", "evidence-note", "item-error", "whitespace", "truncated", "not-json"],
)
def test_damage_outside_the_events_is_refused_too(bundle_file, damage):
    raw = bundle_file.read_bytes()
    if damage == "case-title":
        changed = raw.replace(b"Invoice wave", b"Invoice wavE", 1)
    elif damage == "evidence-note":
        changed = raw.replace(b'"look-alike"', b'"look-alikE"', 1)
    elif damage == "item-error":
        changed = raw.replace(b"legal hold", b"legal holD", 1)
    elif damage == "whitespace":
        changed = raw.replace(b'\n "format"', b'\n  "format"', 1)
    elif damage == "truncated":
        changed = raw[:-100]
    else:
        changed = b"\xff" + raw
    assert changed != raw
    with pytest.raises(bundle_verify.BundleError):
        bundle_verify.verify_bundle_bytes(changed)


def test_the_verifier_hashes_a_bundle_event_as_the_chain_hashes_it():
    values = {name: "" for name in CHAIN_FIELDS}
    values.update(seq=3, created_at=timezone.now(), data=AWKWARD_DATA, prev_hash="0" * 64, reason=AWKWARD_REASON)
    doc = dict(values, created_at=values["created_at"].strftime("%Y-%m-%dT%H:%M:%S.%f+00:00"))
    assert bundle_verify.event_hash(doc) == event_hash(values)


def test_a_bundle_rewritten_whole_passes_offline_but_not_against_the_live_trail(bundle_file, tmp_path):
    """What the proof section says: a forger who recomputes an event's hash, the head and the digest
    gets past the offline check; the live trail (or a checkpoint) is what catches it."""
    bundle = json.loads(bundle_file.read_bytes())
    head = bundle["events"][-1]
    head["reason"] = "nothing to see"
    head["hash"] = bundle_verify.event_hash(head)
    bundle["chain_head"]["hash"] = head["hash"]
    bundle["digest"]["sha256"] = bundle_verify.bundle_digest(bundle)
    forged = tmp_path / "rewritten.json"
    forged.write_bytes(bundle_verify.bundle_bytes(bundle))
    out = StringIO()
    call_command("verify_bundle", str(forged), stdout=out)
    assert out.getvalue().startswith("OK: ")
    with pytest.raises(CommandError, match=rf"event seq={head['seq']} is different in this portal's audit trail"):
        call_command("verify_bundle", str(forged), "--live")


def test_the_command_reports_an_unreadable_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("verify_bundle", str(tmp_path / "missing.json"))


# ------------------------------------------------------------------------------------ the report


def test_the_report_shows_the_case_evidence_outcomes_and_timeline_escaped(client, analyst, case, bulk_request):
    client.force_login(analyst)
    before = AuditEvent.objects.order_by("-seq").first().seq
    response = client.get(reverse("case-report", args=[case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Investigation #" in html and "Finance phishing wave" in html
    assert "billing@invoices-example.test" in html and "look-alike" in html
    assert "removed (1 copy)" in html and "Mailbox is on legal hold" in html
    assert "remediation.approved" in html and "case.created" in html
    # Every hostile string is shown as text, never as markup; the page has no inline script or style.
    assert "<script>alert" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "<script" not in html and "style=" not in html
    assert 'href="/static/css/report.css"' in html
    event = AuditEvent.objects.get(seq__gt=before, action=AuditAction.CASE_EXPORTED)
    assert event.data == {"format": "html"} and event.target_id == str(case.pk)
    assert f"seq {event.seq}, hash" in html


def test_the_xss_corpus_stays_text_in_the_report(client, analyst, case, bulk_request):
    vectors = xss_vectors()
    now = timezone.now()
    Evidence.objects.bulk_create(
        Evidence(
            investigation=case,
            kind="url",
            value=f"https://x.example/{n}?q={vector}",
            label=vector[:300],
            note=vector,
            added_by=analyst,
            added_at=now,
        )
        for n, vector in enumerate(vectors)
    )
    RemediationItem.objects.filter(request=bulk_request, position=2).update(error=vectors[-1], label=vectors[0])
    Investigation.objects.filter(pk=case.pk).update(title=vectors[1][:200], reason=vectors[2])
    client.force_login(analyst)
    html = client.get(reverse("case-report", args=[case.pk])).content.decode()
    assert html.count("<tr>") > len(vectors)
    assert [v for v in vectors if "<" in v and v in html] == []
    assert "<script" not in html and "<svg" not in html and "<img" not in html and "<iframe" not in html


# ------------------------------------------------------------------------------------ permissions


@pytest.mark.parametrize("name", ["case-export-json", "case-report"])
@pytest.mark.parametrize(
    ("persona", "status"),
    [("analyst", 200), ("approver", 200), ("auditor", 200), ("admin", 403), ("outsider", 403)],
)
def test_who_may_export(client, personas, case, name, persona, status):
    client.force_login(personas[persona])
    before = AuditEvent.objects.filter(action=AuditAction.CASE_EXPORTED).count()
    assert client.get(reverse(name, args=[case.pk])).status_code == status
    assert AuditEvent.objects.filter(action=AuditAction.CASE_EXPORTED).count() == before + (status == 200)


@pytest.mark.parametrize("name", ["case-export-json", "case-report"])
def test_anonymous_missing_and_posted(client, analyst, case, name):
    url = reverse(name, args=[case.pk])
    assert client.get(url).status_code == 302
    client.force_login(analyst)
    assert client.get(reverse(name, args=[case.pk + 1000])).status_code == 404
    assert client.post(url).status_code == 405
    assert not AuditEvent.objects.filter(action=AuditAction.CASE_EXPORTED).exists()


# ------------------------------------------------------------------------------------ SQLite


@pytest.mark.slow
def test_a_bundle_exported_on_sqlite_verifies(tmp_path):
    """The demo's database hashes in Python and keeps payloads as JSON text: the bundle must verify."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env.update(PORTAL_VAR_DIR=str(tmp_path), DEBUG="false")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=settings.BASE_DIR, env=env, check=True)
    out = tmp_path / "sqlite-bundle.json"
    script = f"""
from django.contrib.auth.models import Group
from investigations.audit.services import audit_record
from investigations.cases.export import case_export_bundle
from investigations.cases.services import case_create, evidence_add
from investigations.core.context import audit_context
from investigations.models import User
user = User.objects.create(username="alice")
user.groups.set(Group.objects.filter(name="analyst"))
case = case_create(actor=user, values={{"title": "t", "reason": "SQLite export", "ticket_id": ""}})
evidence_add(actor=user, case_id=case.pk, kind="domain", values=["example.test"], note="n")
with audit_context(case_id=case.pk):
    audit_record(actor=user, action="search.hash", target=None, reason={AWKWARD_REASON!r}, data={AWKWARD_DATA!r})
open({str(out)!r}, "wb").write(case_export_bundle(user=user, case=case).content)
"""
    subprocess.run([*manage, "shell", "-c", script], cwd=settings.BASE_DIR, env=env, check=True)
    result = subprocess.run([SYSTEM_PYTHON, str(SCRIPT), str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 4 events, head seq ")
    assert json.loads(out.read_bytes())["events"][2]["data"]["text"] == AWKWARD_DATA["text"]


def test_the_events_are_in_seq_and_time_order(client, analyst, case, bulk_request):
    bundle = json.loads(_export(client, analyst, case).content)
    seqs = [e["seq"] for e in bundle["events"]]
    times = [e["created_at"] for e in bundle["events"]]  # all UTC, one format: text order is time order
    assert seqs == sorted(set(seqs)) and times == sorted(times)
